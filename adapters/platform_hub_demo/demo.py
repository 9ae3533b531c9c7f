"""``platform-hub demo``: the demo city on loopback, and the 児童手当 認定請求 of three applicants.

Every process is real: the hub (``platform-hub serve``), the four mock units (``platform-hub
mock-unit``) and the mock national systems (``platform-hub mock-national``: 住基ネット, the NWS, the
city's 中間サーバー and 大阪市's) run as child processes on free loopback ports, each on its own
embedded SQLite file. Everything they write — databases, keys, logs — goes under one data directory.
The scenario follows both halves of the seed lecture's 業務プロセスフロー: a resident applies by
個人番号; a 住登外者 by 個人番号 and 基本4情報, decided from 大阪市's answer through the network; then
the city amends its ordinance (別表第2 第6項 repealed) and a third applicant's income query is refused.
Then the applicants' audit trails, the 第23条 record, the compliance report and the verified chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from platform_hub.kit.clock import city_today, city_zone
from platform_hub.kit.settings import DEMO_ORDINANCE
from platform_hub_demo import national
from platform_hub_demo.city import MOCK_UNITS, seed_city
from platform_hub_demo.flows import fiscal_income_year
from platform_hub_demo.national import NationalNetwork
from platform_hub_demo.residents import (
    CITY_CODE,
    Resident,
    generate_city,
    new_my_number,
    parents_with_children,
)

CITY_ORDINANCE = DEMO_ORDINANCE
DEMO_AUDITOR = "demo-auditor"  # the console account the demo makes, for its auditor to sign in as
TAX_STEP = "地方税関係情報の照会（情報提供ネットワークシステム）"
PROVISION_COLUMNS = ("requester", "provider", "affair", "information", "period", "result")  # 第23条
REPEALED = "U-03"  # 別表第2 第6項: 児童手当 may use 地方税関係情報
OUTSIDER = {  # a 住登外者: lives outside the city (in 大阪市 since 2015), unknown to its registry
    "name": "佐々木　花子",
    "name_kana": "ササキ　ハナコ",
    "birth_date": "1990-05-05",
    "sex": "2",
    "address": "大阪府大阪市北区梅田一丁目１番１号",
    "children": 2,
}
OUTSIDER_INCOME = 3_200_000  # her 総所得金額, as 大阪市's 副本 holds it


def outsider(seed: int) -> dict[str, Any]:
    """申請者2 with the 個人番号 on her 請求書 (synthetic, from the seed)."""
    return {**OUTSIDER, "my_number": new_my_number(random.Random(f"outsider-{seed}"))}  # noqa: S311


@dataclass
class City:
    """The running demo: where the hub and each unit listen, and the hub's administrator."""

    hub: str
    units: dict[str, str]
    admin: tuple[str, str]
    data_dir: Path
    national: NationalNetwork
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)  # by name
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def token(self, client_id: str, secret: str) -> dict[str, str]:
        response = self.http.post(
            f"{self.hub}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def new_client(self, name: str, role: str) -> tuple[str, str]:
        """A staff client made by the administrator (``POST /clients``): its id and secret."""
        response = self.http.post(
            f"{self.hub}/clients", json={"name": name, "role": role}, headers=self.token(*self.admin)
        )
        response.raise_for_status()
        created = response.json()
        return created["client_id"], created["client_secret"]


def run(
    console: Console,
    data_dir: Path | None,
    *,
    once: bool,
    residents: int,
    seed: int,
    database_url: str | None = None,
) -> bool:
    """Start the city, run the scenario, print it; then serve until Ctrl-C unless ``once``.
    True when every applicant's case went as the scenario designs it. ``database_url``: the hub's
    database (an empty one), instead of a SQLite file in the data directory."""
    # SIGTERM ends the demo as Ctrl-C does: through the ExitStack, which stops every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with _directory(data_dir) as root, ExitStack() as processes:
        hub_database = database_url or f"sqlite:///{root / 'hub.db'}"
        city = _start(console, root, processes, residents=residents, seed=seed, database_url=hub_database)
        designed = Scenario(console, city, generate_city(seed, residents), outsider(seed)).play()
        if once:
            return designed
        _explore(console, city)
        with contextlib.suppress(KeyboardInterrupt):
            while all(process.poll() is None for process in city.processes.values()):
                time.sleep(0.5)
            stopped = [name for name, process in city.processes.items() if process.poll() is not None]
            console.print(f"[red]{', '.join(stopped)} stopped; see {root / 'logs'}[/red]", highlight=False)
        return designed


@contextlib.contextmanager
def _directory(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="platform-hub-demo-") as scratch:
            yield Path(scratch)
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    if any(data_dir.iterdir()):
        raise SystemExit(
            f"--data-dir {data_dir} is not empty: a demo keeps one run's data, give it a new folder"
        )
    yield data_dir


def _start(
    console: Console, root: Path, processes: ExitStack, *, residents: int, seed: int, database_url: str
) -> City:
    admin = ("demo-admin", secrets.token_urlsafe(24))
    (root / "logs").mkdir()
    # The demo's own settings, none of the caller's (a production mode, a shared Redis …). The hub
    # makes its token secret in keys/; only the hub is told where its keys are, and who its admin is.
    own = {name: value for name, value in os.environ.items() if not name.startswith("PLATFORM_HUB_")}
    hub_env = {
        **own,
        "PLATFORM_HUB_DATABASE_URL": database_url,
        "PLATFORM_HUB_KEY_FILE": str(root / "keys" / "my-number-keys.json"),
        "PLATFORM_HUB_SIGNING_KEY_FILE": str(root / "keys" / "signing-key.pem"),
        "PLATFORM_HUB_ADMIN_CLIENT_ID": admin[0],
        "PLATFORM_HUB_ADMIN_CLIENT_SECRET": admin[1],
        "PLATFORM_HUB_SEAL_INTERVAL_SECONDS": "0.5",
        "PLATFORM_HUB_LOG_LEVEL": "WARNING",
    }
    (root / "keys").mkdir()
    network, commands = national.plan(root, {name: _free_port() for name in national.names()})
    hub_env |= network.hub_env()
    hub_port = _free_port()
    hub = f"http://127.0.0.1:{hub_port}"
    city = City(hub, {}, admin, root, network)
    with console.status("starting 住基ネット, the 情報提供ネットワークシステム and two 中間サーバー …"):
        for name, arguments in commands.items():
            city.processes[name] = _spawn(processes, root, name, arguments, own)
        for name in commands:
            wait_healthy(network.urls[name], city.processes[name], root / "logs" / f"{name}.log")
    credentials = json.dumps(dict(zip(("client_id", "client_secret"), admin, strict=True)))
    with os.fdopen(os.open(root / "admin.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(credentials)
    with console.status("starting the hub (platform-hub serve) …"):
        city.processes["hub"] = _spawn(
            processes, root, "hub", ["serve", "--host", "127.0.0.1", "--port", str(hub_port)], hub_env
        )
        wait_healthy(hub, city.processes["hub"], root / "logs" / "hub.log")
    _load_ordinance(city, CITY_ORDINANCE.read_bytes())
    console.print(f"[green]✓[/green] hub on {hub} — ordinance 2026-04 in force", highlight=False)
    _print_auditor(console, hub, _demo_auditor(root, hub_env))
    integrator_id, integrator_secret = city.new_client("demo-integrator", "integrator")
    unit_env = {  # the units register themselves as an integrator made for them would
        **own,
        "PLATFORM_HUB_INTEGRATOR_CLIENT_ID": integrator_id,
        "PLATFORM_HUB_INTEGRATOR_CLIENT_SECRET": integrator_secret,
    }
    with console.status("starting the four business units (platform-hub mock-unit) …"):
        for name in MOCK_UNITS:
            port = _free_port()
            arguments = [
                "mock-unit",
                name,
                "--hub",
                hub,
                "--port",
                str(port),
                "--data-dir",
                str(root / "units"),
            ]
            arguments += ["--residents", str(residents), "--seed", str(seed)]
            city.processes[name] = _spawn(processes, root, name, arguments, unit_env)
            city.units[name] = f"http://127.0.0.1:{port}"
        for name, url in city.units.items():
            wait_healthy(url, city.processes[name], root / "logs" / f"{name}.log")
    with console.status(f"seeding the registry with {residents} synthetic residents …"):
        seeded = asyncio.run(seed_city(city.units))
    with console.status("seeding 住基ネット, and 大阪市's 副本 …"):
        nendo = fiscal_income_year(city_today())[0]
        held = asyncio.run(
            national.seed(network, generate_city(seed, residents), outsider(seed), {nendo: OUTSIDER_INCOME})
        )
    console.print(
        "[green]✓[/green] 001 住民基本台帳, 002 個人住民税 (REST/JSON: the hub asks and tells it the "
        "Digital Agency's way), 011 児童手当, 051 就学援助 (SOAP) registered; "
        f"{seeded['juki'].get('registered', 0)} residents in the registry, "
        "each unit linked by its own 宛名番号",
        highlight=False,
    )
    console.print(
        f"[green]✓[/green] 住基ネット ({held} 人の本人確認情報), 情報提供ネットワークシステム, "
        f"中間サーバー of the city ({CITY_CODE}) and of {national.OTHER_NAME} ({national.OTHER_CODE}, "
        f"with 申請者2's {national.TAX_INFORMATION} 副本) — the hub is the city's 団体内統合宛名 gateway",
        highlight=False,
    )
    return city


def _demo_auditor(root: Path, hub_env: dict[str, str]) -> dict[str, str]:
    """A console account for the demo's auditor, made as the hub's operator makes one (``platform-hub
    accounts create``): its login, initial password and TOTP URI, kept in auditor.json (0600)."""
    command = [sys.executable, "-m", "platform_hub.cli", "accounts", "create", DEMO_AUDITOR]
    command += ["--role", "auditor", "--name", "デモ 監査責任者"]
    made = subprocess.run(command, env=hub_env, cwd=root, capture_output=True, text=True, check=True)  # noqa: S603
    fields = dict(line.split("=", 1) for line in made.stdout.splitlines() if "=" in line)
    with os.fdopen(os.open(root / "auditor.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(json.dumps(fields))
    return fields


def _print_auditor(console: Console, hub: str, auditor: dict[str, str]) -> None:
    secret = parse_qs(urlsplit(auditor["totp_uri"]).query)["secret"][0]
    console.print(
        f"[green]✓[/green] console on {hub}/console — demo auditor: ログインID {auditor['login']}, "
        f"パスワード {auditor['initial_password']}, 確認コードの鍵 {secret} "
        "(enter it in an authenticator app; the URI is in auditor.json). The password is an initial "
        "one: the first sign-in changes it on the パスワード変更 page",
        highlight=False,
    )


def _spawn(
    processes: ExitStack, root: Path, name: str, arguments: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log = processes.enter_context((root / "logs" / f"{name}.log").open("ab"))
    command = [sys.executable, "-m", "platform_hub.cli", *arguments]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)  # noqa: S603
    processes.callback(stop, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask a child to stop (SIGTERM); kill it if it has not within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Until ``GET url/healthz`` answers 200; RuntimeError with the end of ``log`` if the child died
    or did not get there in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy; its log ({log}) ends:\n{log.read_text()[-2000:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _load_ordinance(city: City, text: bytes) -> None:
    response = city.http.post(
        f"{city.hub}/ordinance/versions",
        content=text,
        headers={**city.token(*city.admin), "Content-Type": "application/yaml"},
    )
    if response.status_code != 201:
        raise RuntimeError(f"the hub refused the ordinance: {response.text}")


def amendment(today: dt.date) -> bytes:
    """The city's ordinance amended from ``today``: 別表第2 第6項 (U-03) repealed."""
    ordinance = yaml.safe_load(CITY_ORDINANCE.read_text(encoding="utf-8"))
    ordinance |= {
        "version": f"{today:%Y-%m-%d}",
        "title": ordinance["title"].split("（")[0] + f"（{today:%Y年%m月%d日}施行の改正後）",
        "enacted": today,
        "effective": today,
        "rules": [rule for rule in ordinance["rules"] if rule["code"] != REPEALED],
    }
    return yaml.safe_dump(ordinance, allow_unicode=True).encode()


class Scenario:
    """The three 認定請求, told as they happen, then what an auditor sees."""

    def __init__(
        self, console: Console, city: City, residents: Sequence[Resident], outsider: dict[str, Any]
    ) -> None:
        self.console, self.city, self.outsider = console, city, outsider
        self.parents = parents_with_children(residents)
        self.designed: list[bool] = []
        self._auditor: dict[str, str] | None = None

    def play(self) -> bool:
        first, third = self.parents[0], self.parents[1]
        resident = self.claim(
            f"申請者1 {first.name}（住民、個人番号で本人確認）", {"my_number": first.my_number}
        )
        self.expect(resident["result"] in {"認定", "却下"} and self._hub_steps_ok(resident))
        outsider = self.claim(f"申請者2 {OUTSIDER['name']}（住登外者、個人番号と基本4情報で）", self.outsider)
        self.expect(
            outsider["result"] == "認定"
            and self._outcome(outsider, "住登外者の登録") == "registered"
            and self._outcome(outsider, "符号取得（中間サーバー）— 申請者") == "ok"
            and self._outcome(outsider, f"{TAX_STEP}— 申請者") == "ok"
        )
        self.amend()
        refused = self.claim(
            f"申請者3 {third.name}（住民、基本4情報で）",
            {"name": third.name, "birth_date": third.birth_date.isoformat()},
        )
        self.expect(refused["result"] == "保留" and self._code(refused, "地方税関係情報の照会") == "E3001")
        auditor = self.auditor()
        self.audit_trail(auditor, resident["integrated_number"], first.name)
        self.audit_trail(auditor, outsider["integrated_number"], str(OUTSIDER["name"]))
        self.provision_records(auditor, outsider["integrated_number"])
        self.compliance(auditor)
        self.verify(auditor)
        return all(self.designed)

    def expect(self, holds: bool) -> None:
        self.designed.append(holds)
        if not holds:
            self.console.print("[red]✗ this case did not go as the scenario designs it[/red]")

    def claim(self, title: str, body: dict[str, Any]) -> dict[str, Any]:
        self.console.rule(f"[bold]認定請求 — {escape(title)}")
        url = f"{self.city.units['jidou-teate']}/ninteiseikyu?stream=1"
        result: dict[str, Any] = {}
        with self.city.http.stream("POST", url, json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                event = json.loads(line)
                if "step" in event:
                    self._print_step(event["step"])
                else:
                    result = event["result"]
        amount = f"、月額 {result['monthly_amount']:,} 円" if result.get("monthly_amount") else ""
        self.console.print(
            f"  [bold]→ {escape(result['result'])}[/bold]{amount} — {escape(result.get('reason') or '')}",
            highlight=False,
        )
        return result

    def _print_step(self, step: dict[str, Any]) -> None:
        mark = {"ok": "[green]✓", "refused": "[red]✗"}.get(step["outcome"], "[cyan]•")
        via = (
            f" [dim]{step['interface_id']} 受付番号 {step['reception_number']}"
            f"{self._bindings(step['interface_id'], step['reception_number'])}[/dim]"
            if step["interface_id"]
            else ""
        )
        code = f" [red]{step['code']}[/red]" if step.get("code") else ""
        self.console.print(
            f"  {mark} {escape(step['name'])}[/]{via}{code} — {escape(step['detail'])}", highlight=False
        )

    def _bindings(self, interface_id: str, reception_number: str | None) -> str:
        """`` SOAP→REST``: how the step's message came to the hub and went on, as its record entry says."""
        today = city_today().isoformat()
        query = {"interface": interface_id, "from": today, "to": today, "limit": 500}
        entries = self._get("/audit/transfers", self.auditor(), query)["items"] if reception_number else []
        entry = next((e for e in entries if e["reception_number"] == reception_number), None)
        if entry is None or entry["binding"] is None:
            return ""
        onward = f"→{entry['onward_binding'].upper()}" if entry["onward_binding"] else ""
        return f" {entry['binding'].upper()}{onward}"

    def amend(self) -> None:
        today = city_today()
        self.console.rule("[bold]条例改正")
        _load_ordinance(self.city, amendment(today))
        self.console.print(
            f"  {today:%Y-%m-%d} 施行: 別表第2 第6項"
            f"（児童手当の支給に関する事務 × 地方税関係情報, {REPEALED}）を削除。"
            " 以後、011 児童手当の所得照会は条例上の根拠を失う。",
            highlight=False,
        )

    def auditor(self) -> dict[str, str]:
        if self._auditor is None:
            self._auditor = self.city.token(*self.city.new_client("demo-auditor", "auditor"))
        return self._auditor

    def audit_trail(self, auditor: dict[str, str], integrated_number: str, name: str) -> None:
        self.console.rule(f"[bold]やりとり履歴 — {escape(name)}（団体内統合宛名番号 {integrated_number}）")
        disclosure = self._get(f"/audit/persons/{integrated_number}", auditor)
        table = Table("時刻", "受領", "提供", "情報", "事務", "根拠", "結果")
        for item in disclosure["transfers"]:
            at = dt.datetime.fromisoformat(item["at"]).astimezone(city_zone())
            table.add_row(
                f"{at:%H:%M:%S}",
                f"{item['received_by_unit']} {item['received_by_organ']}",
                f"{item['provided_by_unit']} {item['provided_by_organ']}",
                item["information_category"],
                item["purpose_name"] or item["purpose_code"],
                item["article"] or "—",
                item["outcome"],
            )
        self.console.print(table)

    def provision_records(self, auditor: dict[str, str], integrated_number: str) -> None:
        """The 情報提供等の記録 (番号法 第23条) the city's 中間サーバー keeps for the person, as an auditor
        reads it through the hub beside the hub's own record: what マイナポータル shows of the network."""
        records = self._get(f"/audit/persons/{integrated_number}/provisions", auditor)["records"]
        self.console.rule(f"[bold]情報提供等の記録（番号法 第23条、中間サーバー）— {integrated_number}")
        table = Table("照会日時", "照会者", "提供者", "事務", "特定個人情報", "年度", "結果")
        for record in records:
            at = dt.datetime.fromisoformat(record["requested_at"]).astimezone(city_zone())
            table.add_row(
                f"{at:%Y-%m-%d %H:%M:%S}",
                *(record[key] for key in PROVISION_COLUMNS),
            )
        self.console.print(table)
        self.expect(any(r["side"] == "requester" and r["provider"] == national.OTHER_CODE for r in records))

    def compliance(self, auditor: dict[str, str]) -> None:
        today = city_today().isoformat()
        report = self._get("/audit/compliance", auditor, {"from": today, "to": today})
        self.console.rule("[bold]条例適合性の再点検（本日分）")
        self.console.print(
            f"  {report['checked']} 件の提供を、その時点で施行中の条例と照合: "
            f"違反 {len(report['violations'])} 件",
            highlight=False,
        )
        for uncovered in report["uncovered"]:
            self.console.print(
                f"  [yellow]条例上の根拠がない連携[/yellow] {uncovered['interface_id']} → "
                f"{uncovered['unit_code']}: {escape(uncovered['reason'])}",
                highlight=False,
            )
        self.expect(not report["violations"])

    def verify(self, auditor: dict[str, str], seconds: float = 30) -> None:
        """Wait for the sealer to chain the scenario's entries, then verify the whole record."""
        deadline, result = time.monotonic() + seconds, {}
        entries = self._get("/audit/transfers", auditor, {"limit": 500})["items"]
        while time.monotonic() < deadline:
            result = self._get("/audit/verify", auditor)
            if result["ok"] and result["entries"] >= len(entries):
                break
            time.sleep(0.5)
        self.console.rule("[bold]記録の検証")
        if result.get("ok"):
            self.console.print(
                f"  [green]✓[/green] 連携記録 {result['entries']} 件と操作記録 {result['operations']} 件、"
                f"それぞれのハッシュチェーンと署名付きチェックポイント "
                f"{result['checkpoints'] + result['operation_checkpoints']} 件を検証",
                highlight=False,
            )
        else:
            self.console.print(
                f"  [red]✗[/red] {escape('; '.join(result.get('problems', [])))}", highlight=False
            )
        self.expect(bool(result.get("ok")))

    def _get(self, path: str, headers: dict[str, str], params: dict[str, Any] | None = None) -> Any:
        response = self.city.http.get(f"{self.city.hub}{path}", headers=headers, params=params)
        response.raise_for_status()
        return response.json()

    @staticmethod
    def _hub_steps_ok(result: dict[str, Any]) -> bool:
        # The hub answered every query (a spouse without income on record is an answer too).
        return all(step["outcome"] in {"ok", "not_found"} for step in result["steps"] if step["interface_id"])

    @staticmethod
    def _outcome(result: dict[str, Any], name: str) -> str | None:
        return next((step["outcome"] for step in result["steps"] if step["name"] == name), None)

    @staticmethod
    def _code(result: dict[str, Any], name: str) -> str | None:
        return next((step["code"] for step in result["steps"] if step["name"] == name), None)


def _explore(console: Console, city: City) -> None:
    console.rule("[bold]まだ動いています — Ctrl-C で終了")
    table = Table("what", "URL", show_header=False)
    table.add_row("console (監査・番号制度統括・運用)", f"{city.hub}/console")
    table.add_row("hub (OpenAPI)", f"{city.hub}/docs")
    table.add_row("hub (WSDL)", f"{city.hub}/linkage/wsdl")
    for name, url in city.units.items():
        table.add_row(name, url)
    console.print(table)
    claim = json.dumps({key: OUTSIDER[key] for key in ("name", "birth_date", "children")}, ensure_ascii=False)
    console.print(
        f"another 認定請求: curl -s {city.units['jidou-teate']}/ninteiseikyu"
        f" -H 'Content-Type: application/json' -d '{claim}'",
        highlight=False,
        markup=False,
    )
    console.print(
        f"administrator: client id {city.admin[0]}, secret in {city.data_dir / 'admin.json'}; "
        f"data, keys and logs: {city.data_dir}",
        highlight=False,
    )
