"""The demo's national systems: mock 住基ネット, the 情報提供ネットワークシステム, the city's 中間サーバー
and the 中間サーバー of 大阪市, where 申請者2 lives — each its own ``platform-hub mock-national``
process on a free loopback port, with its own SQLite file under the demo's data directory.

``plan`` writes the network's configuration and says what to start; ``seed`` then fills 住基ネット
with the city's residents and 申請者2, and plays 大阪市's side: its 符号取得 for her and its 副本 of
地方税関係情報, which the city's 情報照会 is answered from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from platform_hub.national.chukan import ChukanServer
from platform_hub.national.juki_net import JukiNet
from platform_hub_demo.residents import CITY_CODE, Resident

OTHER_CODE, OTHER_NAME = "271004", "大阪市"  # 団体コード (with its check digit)
OTHER_INTEGRATED = "000000002710011"  # 申請者2 in 大阪市's own 団体内統合宛名番号
OUTSIDER_SINCE = dt.date(2015, 4, 1)  # 申請者2 has lived in 大阪市 since
TAX_INFORMATION = "地方税関係情報"


@dataclass(frozen=True)
class NationalNetwork:
    """Where each mock listens, and the keys: the city's (for the hub), 大阪市's, 住基ネット's."""

    urls: dict[str, str]  # juki-net, nws, chukan-<団体コード>
    keys: dict[str, str]

    def hub_env(self) -> dict[str, str]:
        """The hub's settings for the city's 中間サーバー and 住基ネット."""
        return {
            "PLATFORM_HUB_CHUKAN_URL": self.urls[f"chukan-{CITY_CODE}"],
            "PLATFORM_HUB_CHUKAN_KEY": self.keys[CITY_CODE],
            "PLATFORM_HUB_JUKI_NET_URL": self.urls["juki-net"],
            "PLATFORM_HUB_JUKI_NET_KEY": self.keys[CITY_CODE],
        }


def plan(root: Path, ports: dict[str, int]) -> tuple[NationalNetwork, dict[str, list[str]]]:
    """The network on ``ports`` (by name: juki-net, nws, chukan-CITY, chukan-OTHER): its
    configuration file (0600: it holds the keys) and each process's ``platform-hub`` arguments."""
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    keys = {party: secrets.token_urlsafe(24) for party in ("juki-net", "nws", CITY_CODE, OTHER_CODE)}
    config = root / "national.json"
    document = {
        "juki_net": {"url": urls["juki-net"], "key": keys["juki-net"]},
        "nws": {"url": urls["nws"], "key": keys["nws"]},
        "code_secret": secrets.token_urlsafe(32),
        "organisations": {
            code: {"name": name, "chukan_url": urls[f"chukan-{code}"], "key": keys[code]}
            for code, name in ((CITY_CODE, "千代田区"), (OTHER_CODE, OTHER_NAME))
        },
    }
    with os.fdopen(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        json.dump(document, file)
    commands = {}
    for name, port in ports.items():
        kind, _, organisation = name.partition("-") if name.startswith("chukan") else (name, "", "")
        arguments = ["mock-national", kind, "--port", str(port), "--config", str(config)]
        arguments += ["--database", f"sqlite:///{root / 'national' / name}.db"]
        arguments += ["--key-file", str(root / "keys" / "juki-net-keys.json")]
        commands[name] = arguments + (["--organisation", organisation] if organisation else [])
    (root / "national").mkdir()
    return NationalNetwork(urls, keys), commands


def names() -> list[str]:
    return ["juki-net", "nws", f"chukan-{CITY_CODE}", f"chukan-{OTHER_CODE}"]


def _resident_code(index: int, municipality: str) -> str:
    """A synthetic 住民票コード (11 digits)."""
    return f"{municipality[:5]}{index:06d}"


def _identity(resident: Resident, index: int) -> dict[str, Any]:
    return {
        "resident_code": _resident_code(index, CITY_CODE),
        "my_number": resident.my_number,
        "name": resident.name,
        "birth_date": resident.birth_date.isoformat(),
        "sex": resident.sex,
        "addresses": [
            {
                "municipality_code": CITY_CODE,
                "address": resident.address,
                "from": resident.resident_since.isoformat(),
                "to": None,
            }
        ],
    }


async def seed(
    network: NationalNetwork, residents: Sequence[Resident], outsider: dict[str, Any], income: dict[int, int]
) -> int:
    """住基ネット with every resident and 申請者2 (``outsider``, with her ``my_number``); then 大阪市's
    符号取得 for her and its 副本 of her 地方税関係情報 for each period of ``income`` (年度 → 総所得金額).
    Returns how many persons 住基ネット holds."""
    persons = [_identity(resident, index) for index, resident in enumerate(residents, start=1)]
    her = _resident_code(1, OTHER_CODE)
    persons.append(
        {
            "resident_code": her,
            "my_number": outsider["my_number"],
            "name": outsider["name"],
            "birth_date": outsider["birth_date"],
            "sex": outsider["sex"],
            "addresses": [
                {"municipality_code": OTHER_CODE, "address": outsider["address"], "from": str(OUTSIDER_SINCE)}
            ],
        }
    )
    async with httpx.AsyncClient(timeout=120) as http:
        seeded = await http.post(
            f"{network.urls['juki-net']}/seed",
            json={"persons": persons},
            headers={"Authorization": f"Bearer {network.keys['juki-net']}"},
        )
        seeded.raise_for_status()
    async with (
        ChukanServer(network.urls[f"chukan-{OTHER_CODE}"], network.keys[OTHER_CODE]) as chukan,
        JukiNet(network.urls["juki-net"], network.keys[OTHER_CODE]) as juki_net,
    ):
        request = await chukan.request_code(OTHER_INTEGRATED, outsider["my_number"])
        await juki_net.send_code_step(request.process_number, her)
        for nendo, amount in income.items():
            data = {"総所得金額": amount, "扶養人数": outsider["children"]}
            await chukan.register_duplicate(OTHER_INTEGRATED, TAX_INFORMATION, str(nendo), data)
    return len(persons)
