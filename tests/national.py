"""The mock national systems as real processes (``platform-hub mock-national``) on loopback ports:
住基ネット, the NWS, and two 中間サーバー (the city's and another municipality's), each with its own
database — a SQLite file, or on a PostgreSQL run a database of its own created for the module."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from platform_hub_demo.demo import stop, wait_healthy

from platform_hub.kit.settings import Settings
from tests.helpers import free_port

CITY, OTHER = "999991", "999982"  # 団体コード of the city and of the municipality people move from
TEST_DATABASE_URL = os.environ.get("PLATFORM_HUB_TEST_DATABASE_URL")


@dataclass(frozen=True)
class NationalNetwork:
    urls: dict[str, str]  # juki-net, nws, chukan-CITY, chukan-OTHER
    keys: dict[str, str]  # juki-net, nws, CITY, OTHER
    databases: dict[str, str]

    def chukan(self, organisation: str) -> str:
        return self.urls[f"chukan-{organisation}"]

    def connect(self, settings: Settings, **more: object) -> Settings:
        """``settings`` of a hub connected to the city's 中間サーバー and to 住基ネット (and ``more``)."""
        return settings.model_copy(
            update={
                "chukan_url": self.chukan(CITY),
                "chukan_key": self.keys[CITY],
                "juki_net_url": self.urls["juki-net"],
                "juki_net_key": self.keys[CITY],
                **more,
            }
        )

    def seed_juki_net(self, persons: list[dict[str, Any]]) -> None:
        """Load these 本人確認情報 into 住基ネット (its ``POST /seed``, with its own key)."""
        seeded = httpx.post(
            f"{self.urls['juki-net']}/seed",
            json={"persons": persons},
            headers={"Authorization": f"Bearer {self.keys['juki-net']}"},
        )
        assert seeded.status_code == 200, seeded.text


@contextmanager
def scratch_databases(names: list[str], directory: Path) -> Iterator[dict[str, str]]:
    """Empty databases by name: SQLite files in ``directory``, or on a PostgreSQL run databases of
    their own, dropped afterwards."""
    if TEST_DATABASE_URL is None:
        yield {name: f"sqlite:///{directory / name}.db" for name in names}
        return
    admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:8]
    created = {name: f"ph_nat_{tag}_{name.replace('-', '_')}" for name in names}
    with admin.connect() as connection:
        for database in created.values():
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    base = sa.make_url(TEST_DATABASE_URL)
    try:
        yield {
            name: base.set(database=database).render_as_string(hide_password=False)
            for name, database in created.items()
        }
    finally:
        with admin.connect() as connection:
            for database in created.values():
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def national_network(directory: Path) -> Iterator[NationalNetwork]:
    """Start the four processes; yields where they listen, the keys, and their database URLs."""
    names = ["juki-net", "nws", f"chukan-{CITY}", f"chukan-{OTHER}"]
    ports = {name: free_port() for name in names}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    keys = {party: secrets.token_urlsafe(24) for party in ("juki-net", "nws", CITY, OTHER)}
    config = directory / "network.json"
    config.write_text(
        json.dumps(
            {
                "juki_net": {"url": urls["juki-net"], "key": keys["juki-net"]},
                "nws": {"url": urls["nws"], "key": keys["nws"]},
                "code_secret": secrets.token_urlsafe(32),
                "organisations": {
                    CITY: {"name": "デモ市", "chukan_url": urls[f"chukan-{CITY}"], "key": keys[CITY]},
                    OTHER: {"name": "前住所町", "chukan_url": urls[f"chukan-{OTHER}"], "key": keys[OTHER]},
                },
            }
        )
    )
    with ExitStack() as stack:
        databases = stack.enter_context(scratch_databases(names, directory))
        processes = {}
        for name in names:
            kind, _, organisation = name.partition("-") if name.startswith("chukan") else (name, "", "")
            command = [
                sys.executable, "-c", "from platform_hub.cli import app; app()", "mock-national", kind,
                "--port", str(ports[name]), "--config", str(config), "--database", databases[name],
                "--key-file", str(directory / "juki-net.keys.json"),
            ]  # fmt: skip
            if organisation:
                command += ["--organisation", organisation]
            log = stack.enter_context((directory / f"{name}.log").open("wb"))
            processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(stop, processes[name])
        for name in names:
            wait_healthy(urls[name], processes[name], directory / f"{name}.log")
        yield NationalNetwork(urls, keys, databases)
