"""The benchmark rig kept honest without timing anything: wrk's output is read right, a refused
request fails the run, and the Lua script gives every request its own MSGID (wrk for a second against
a small loopback server that keeps what it receives)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks import goals, messages
from benchmarks.__main__ import first
from benchmarks.native import WrkFailed, check, cpu_seconds, parse_wrk, run_wrk

SAMPLE = """Running 15s test @ http://127.0.0.1:8000/linkage/messages
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   112.41ms   20.10ms 301.22ms   80.12%
    Req/Sec    71.20     12.33   101.00     70.00%
  Latency Distribution
     50%  110.52ms
     75%  120.01ms
     90%  133.40ms
     99%  201.77ms
  2131 requests in 15.02s, 2.10MB read
Requests/sec:    141.88
Transfer/sec:    143.05KB
WRK_JSON {"requests":2131,"duration_us":15020000,"bytes":2202000,"non_200":0,"errors":{"connect":0,\
"read":0,"write":0,"status":0,"timeout":0},"latency_us":{"p50":110520,"p90":133400,"p99":201770,\
"max":301220,"mean":112410.0},"first_non_200":""}
"""


def test_wrk_output_is_read() -> None:
    result = parse_wrk(SAMPLE)
    assert result.requests == 2131
    assert result.per_s == pytest.approx(141.88, abs=0.1)
    assert (result.p50_ms, result.p99_ms) == (110.52, 201.77)
    assert result.text == {"per_s": 141.88, "p50_ms": 110.52, "p99_ms": 201.77}  # wrk's own, agreeing
    assert check(result, "sample") is result


def test_a_refused_request_fails_the_run() -> None:
    refused = SAMPLE.replace('"non_200":0', '"non_200":3').replace(
        '"first_non_200":""', '"first_non_200":"500 <soap:Fault\\u000a/>"'
    )
    with pytest.raises(WrkFailed, match=r"3 answered other than 200.*500 <soap:Fault"):
        check(parse_wrk(refused), "sample")
    timed_out = SAMPLE + "  Socket errors: connect 0, read 2, write 0, timeout 1\n"
    assert parse_wrk(timed_out).failed == 3
    with pytest.raises(WrkFailed):
        check(parse_wrk(timed_out), "sample")
    with pytest.raises(WrkFailed, match="no WRK_JSON"):
        parse_wrk(SAMPLE.split("WRK_JSON")[0])


def test_goals_and_the_older_result_layout() -> None:
    assert goals.HUB_OVER_DIRECT.met(0.025) == "no" and goals.ADDED_P99_MS.met(12) == "yes"
    assert goals.PURGE_MONTH_S.met(None) == "—"
    assert first({"my_number_p99_ms": 1.5}, "my_number_p99_ms", "my_number") == 1.5
    assert first({"my_number": {"p99_ms": 2.5}}, "my_number_p99_ms", "my_number") == 2.5
    assert first({}, "purge_month_s", "purge") is None


def test_cpu_is_read_from_proc() -> None:
    before = cpu_seconds(os.getpid())
    sum(n * n for n in range(300_000))
    assert cpu_seconds(os.getpid()) >= before > 0


# --- wrk against a loopback server ------------------------------------------------------------------


class Keeper(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive connections, as wrk wants
    received: list[tuple[str, str]]
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        msgid = re.search(r"<lk:MSGID>(.*?)</lk:MSGID>", body)
        atena = re.search(r"<lk:AtenaNo>(.*?)</lk:AtenaNo>", body)
        assert msgid and atena, body
        with self.lock:
            self.received.append((msgid[1], atena[1]))
        status = 500 if atena[1] == "refuse" else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def keeper() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    received: list[tuple[str, str]] = []
    handler = type("Handler", (Keeper,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_every_request_has_its_own_msgid(keeper: tuple[str, list[tuple[str, str]]]) -> None:
    url, received = keeper
    atenas = ["000000000000101", "000000000000201", "000000000000301"]
    for body in (messages.QUERY, messages.notification()):
        received.clear()
        result = run_wrk(url, body, atenas, seconds=1, connections=4, what="the keeper")
        msgids = [msgid for msgid, _ in received]
        assert result.requests > 10
        assert len(msgids) >= result.requests  # wrk may leave a few in flight when it stops
        assert len(set(msgids)) == len(msgids), "a MSGID was sent twice"
        assert {atena for _, atena in received} == set(atenas)  # round robin over every one
        assert all(len(m) <= 64 and re.fullmatch(r"[!-~]+", m) for m in msgids)  # the XSD's MSGID


def test_a_refusing_endpoint_fails_wrk(keeper: tuple[str, list[tuple[str, str]]]) -> None:
    url, _ = keeper
    with pytest.raises(WrkFailed, match="answered other than 200"):
        run_wrk(url, messages.QUERY, ["refuse"], seconds=1, connections=2, what="the keeper")
