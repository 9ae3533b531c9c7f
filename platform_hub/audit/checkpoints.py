"""Checkpoints kept outside the hub: what makes a rewritten or cut-off record visible.

The hub signs its chains' heads, but a checkpoint the hub still holds can be removed together with
the entries it covers. An auditor pulls the checkpoints regularly into a folder the hub cannot write
(``platform-hub audit checkpoints pull DIR``): one file per checkpoint, never changed once written,
and the public key. ``audit verify --checkpoint DIR`` then checks the hub's chains against them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from platform_hub.audit.ledgers import LEDGERS

PUBLIC_KEY = "public-key.pem"
# The answer of GET /audit/checkpoints names each ledger's checkpoints by this field.
_FIELDS = {"transfers": "checkpoints", "operations": "operation_checkpoints"}


class PullError(Exception):
    """The hub could not be asked (unreachable, or the credentials refused)."""


@dataclass
class Kept:
    public_key_pem: str | None
    by_ledger: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def read_kept(path: Path) -> Kept:
    """A folder made by ``pull``, or one ``GET /audit/checkpoints`` answer saved as a JSON file."""
    if path.is_file():
        answer = json.loads(path.read_text(encoding="utf-8"))
        return Kept(
            answer.get("public_key_pem"),
            {ledger: list(answer.get(name, [])) for ledger, name in _FIELDS.items()},
        )
    key = path / PUBLIC_KEY
    return Kept(
        key.read_text(encoding="utf-8") if key.exists() else None,
        {
            ledger.name: [
                json.loads(kept.read_text(encoding="utf-8"))
                for kept in sorted((path / ledger.name).glob("*.json"))
            ]
            for ledger in LEDGERS
        },
    )


def pull(hub: str, credentials: tuple[str, str], folder: Path) -> tuple[int, list[str]]:
    """Fetch every checkpoint into ``folder``; returns how many were new, and the conflicts — a kept
    checkpoint the hub now states otherwise, or another signing key — which are never overwritten."""
    try:
        with httpx.Client(base_url=hub, timeout=60) as http:
            token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=credentials)
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            answer = http.get("/audit/checkpoints", headers=headers)
            answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise PullError(f"cannot read the checkpoints of {hub}: {exc}") from None
    kept = answer.json()
    conflicts: list[str] = []
    added = 0
    folder.mkdir(parents=True, exist_ok=True)
    if kept.get("public_key_pem"):
        conflicts += _keep(folder / PUBLIC_KEY, kept["public_key_pem"], "the hub's public key")
    for ledger, name in _FIELDS.items():
        (folder / ledger).mkdir(exist_ok=True)
        for checkpoint in kept.get(name, []):
            target = folder / ledger / f"{int(checkpoint['seq']):012d}.json"
            existed = target.exists()
            text = json.dumps(checkpoint, sort_keys=True, ensure_ascii=False)
            conflicts += _keep(target, text, f"{ledger} checkpoint at link {checkpoint['seq']}")
            added += 0 if existed else 1
    return added, conflicts


def _keep(target: Path, text: str, what: str) -> list[str]:
    """Write ``text`` to a new file; a file already there is left as it is (a conflict if it differs)."""
    if target.exists():
        if target.read_text(encoding="utf-8") != text:
            return [f"{what}: the hub now states it otherwise than {target} (kept as it was)"]
        return []
    target.write_text(text, encoding="utf-8")
    return []
