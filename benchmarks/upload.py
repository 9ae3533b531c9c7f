"""The sender of a batch, in its own process: streams an IF_ZEI_0101 of N records to ``POST /batches``
(never holding the file whole) and prints JSON: seconds until the hub answered, and its counts.

The one Python generator left in the rig, where wrk cannot do the job: a batch is one request whose
body (a million records, hundreds of megabytes) is generated as it is sent, and what is timed is that
request and the delivery after it, not a rate of requests. Every other load comes from wrk
(``benchmarks.native``).

python -m benchmarks.upload --url http://127.0.0.1:8000 --token … --count 1000000
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import httpx
from lxml import etree

from tests.helpers import NS, income_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": "text/xml"}
    started = time.perf_counter()
    response = httpx.post(
        f"{args.url}/batches",
        content=income_batch(args.count, msgid=uuid.uuid4().hex),
        headers=headers,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    root = etree.fromstring(response.content)
    fields = ("UketsukeKensu", "SeijoKensu", "ReceptionNumber")
    counts = {name: root.findtext(f".//lk:{name}", namespaces=NS) for name in fields}
    print(json.dumps({"status": response.status_code, "seconds": seconds, **counts}))


if __name__ == "__main__":
    main()
