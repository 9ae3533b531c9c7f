"""The mock national systems by name, and how to serve one (``platform-hub mock-national NAME``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from platform_hub_national.chukan import Chukan
from platform_hub_national.juki_net import JukiNet
from platform_hub_national.network import load_network
from platform_hub_national.nws import Nws

MOCK_NATIONAL = ("juki-net", "nws", "chukan")


@dataclass(frozen=True)
class NationalOptions:
    """How to run one mock: the network's configuration file, its database, where it listens."""

    config: Path
    database_url: str
    port: int
    host: str = "127.0.0.1"
    organisation: str | None = None  # chukan: whose 中間サーバー this is
    key_file: Path = Path("juki-net.keys.json")  # juki-net: seals the 個人番号 it holds
    seed_file: Path | None = None  # juki-net: persons to load as it starts (YAML or JSON, as POST /seed)


def build(name: str, options: NationalOptions) -> FastAPI:
    network = load_network(options.config)
    if name == "juki-net":
        return JukiNet(network, options.database_url, options.key_file, options.seed_file).app()
    if name == "nws":
        return Nws(network, options.database_url).app()
    if name == "chukan":
        if options.organisation is None:
            raise ValueError("a 中間サーバー belongs to one organisation: give its code (--organisation)")
        return Chukan(network, options.database_url, options.organisation).app()
    raise ValueError(f"unknown mock national system {name!r}: one of {', '.join(MOCK_NATIONAL)}")


def serve(name: str, options: NationalOptions, log_level: str = "warning") -> None:
    """Serve one mock national system until interrupted."""
    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s {name} %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # No access log: a path may carry a 処理通番, and the mocks log nothing a record should not hold.
    uvicorn.run(build(name, options), host=options.host, port=options.port, log_level=log_level,
                access_log=False)  # fmt: skip
