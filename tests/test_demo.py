"""``platform-hub demo``: the demo city's scenario end to end, every process real and on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from platform_hub_demo.demo import outsider
from platform_hub_demo.residents import generate_city

from tests.national import scratch_databases

RESIDENTS = 30


def demo(
    data_dir: Path, database_url: str | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str]]]:
    """The demo's run, and the environment each of its children (``hub``, and each mock unit by name)
    was started with, read from /proc while they ran. ``database_url``: the hub's, when not SQLite."""
    command = [sys.executable, "-m", "platform_hub.cli", "demo", "--once", "--data-dir", str(data_dir),
               "--residents", str(RESIDENTS)]  # fmt: skip
    if database_url is not None:
        command += ["--database-url", database_url]
    children: dict[str, dict[str, str]] = {}
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as process:
        watcher = threading.Thread(target=_watch_children, args=(process, children), daemon=True)
        watcher.start()
        out, err = process.communicate(timeout=300)
        watcher.join(timeout=5)
    return subprocess.CompletedProcess(command, process.returncode, out, err), children


def _watch_children(parent: subprocess.Popen[str], seen: dict[str, dict[str, str]]) -> None:
    while parent.poll() is None:
        for proc in Path("/proc").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if not proc.name.isdigit() or proc.name in seen:
                    continue
                ppid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
                argv = (proc / "cmdline").read_bytes().decode().split("\0")
                if ppid != parent.pid or "platform_hub.cli" not in argv or "demo" in argv:
                    continue  # not a child of the demo, or one not yet past its exec
                name = _child_name(argv)
                entries = (proc / "environ").read_bytes().decode().split("\0")
                seen[name] = dict(entry.partition("=")[::2] for entry in entries if entry)
        time.sleep(0.1)


def _child_name(argv: list[str]) -> str:
    """``hub``, a mock unit's name, or a national system's (``chukan-<団体コード>`` for a 中間サーバー)."""
    if "serve" in argv:
        return "hub"
    if "mock-national" in argv:
        kind = argv[argv.index("mock-national") + 1]
        return f"{kind}-{argv[argv.index('--organisation') + 1]}" if kind == "chukan" else kind
    return argv[argv.index("mock-unit") + 1]


def test_the_demo_runs_the_scenario_and_keeps_everything_under_its_data_dir(tmp_path: Path) -> None:
    """The seed's whole flow, with the hub on the test run's database (PostgreSQL on such a run)."""
    on_postgres = os.environ.get("PLATFORM_HUB_TEST_DATABASE_URL") is not None
    with scratch_databases(["hub"], tmp_path) as databases:
        run, children = demo(tmp_path / "demo", databases["hub"] if on_postgres else None)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    # Three applicants, each step as it happened, with the hub's reception numbers and codes.
    assert out.count("認定請求 — 申請者") == 3
    assert "✓ 地方税関係情報の照会 IF_ZEI_0001 受付番号" in out  # the resident's income, allowed (U-03)
    # 011 asks by SOAP; 002 is a DA-style unit the hub asks by REST; 001 speaks SOAP.
    assert re.search(r"IF_ZEI_0001 受付番号 \w+ SOAP→REST", out) and "IF_JUK_0002 受付番号" in out
    assert re.search(r"IF_JUK_0002 受付番号 \w+ SOAP→SOAP", out)
    assert "住登外者の登録" in out and "E3002" in out  # the 住登外者: registered, no 住民票
    assert "✗ 地方税関係情報の照会 IF_ZEI_0001" in out and "E3001" in out  # after the amendment
    assert out.count("→ 保留") == 1 and out.count("→ 認定、") == 2  # 申請者2 is decided now
    # 申請者2, the seed's other half: 住基ネット, 符号取得 with its 処理通番, the network's answer.
    applicant_2 = out[out.index("申請者2") : out.index("条例改正")]
    assert "✓ 個人番号の真正性確認（住基ネット）" in applicant_2
    assert "✓ 本人確認情報の最新化（住基ネット）" in applicant_2 and "市町村コード" in applicant_2
    assert "団体コード 271004" in applicant_2  # where she lived on the 基準日, from 住基ネット
    assert re.search(r"✓ 符号取得（中間サーバー）— 申請者 — 処理通番 \d+", applicant_2)
    assert re.search(
        r"✓ 地方税関係情報の照会（情報提供ネットワークシステム）— 申請者 — 処理通番 \d+ で団体 271004",
        applicant_2,
    )
    assert "番号法 第19条第8号・別表 第81項" in applicant_2 and "総所得金額 3,200,000 円" in applicant_2
    assert "→ 認定、月額 20,000 円" in applicant_2
    # Then what an auditor sees: the trails, compliance under the rules of each moment, the chain.
    assert "やりとり履歴" in out and "別表第2 第6項" in out
    trail_2 = out[out.index("やりとり履歴 — 佐々木") : out.index("条例適合性")]
    assert "NWS 271004（情報提供ネットワークシステム）" in trail_2 and "番号法 第14条第2項" in trail_2
    assert "情報提供等の記録（番号法 第23条" in trail_2
    assert re.search(r"│ 131016 │ 271004 │ JDT-001 │ 地方税関係情報 │ \d{4} │ provided │", trail_2)
    assert "違反 0 件" in out and "IF_ZEI_0001 → 011" in out
    assert "操作記録" in out and "ハッシュチェーンと署名付きチェックポイント" in out
    # The console's address and a demo auditor who can sign in there.
    auditor = json.loads((tmp_path / "demo" / "auditor.json").read_text())
    assert "/console — demo auditor: ログインID demo-auditor" in out
    assert f"パスワード {auditor['initial_password']}" in out and auditor["totp_uri"].startswith("otpauth://")
    # Every database, key and log of the demo is under the data directory.
    kept = {path.relative_to(tmp_path / "demo").as_posix() for path in (tmp_path / "demo").rglob("*")}
    units = ("juki", "zeimu", "jidou-teate", "shugaku-enjo")
    assert {"keys/my-number-keys.json", "keys/signing-key.pem", "logs/hub.log"} <= kept
    assert ("hub.db" in kept) is not on_postgres
    assert {f"units/{name}.db" for name in units} | {f"logs/{name}.log" for name in units} <= kept
    # The units run with their own settings: an integrator's credentials made for them, none of the hub's.
    admin = json.loads((tmp_path / "demo" / "admin.json").read_text())
    assert "PLATFORM_HUB_ADMIN_CLIENT_SECRET" in children["hub"]
    national = {"juki-net", "nws", "chukan-131016", "chukan-271004"}
    assert set(children) == {"hub", *units, *national}
    assert {f"national/{name}.db" for name in national} | {f"logs/{name}.log" for name in national} <= kept
    assert "PLATFORM_HUB_CHUKAN_KEY" in children["hub"]
    for name in units:
        settings = {key: value for key, value in children[name].items() if key.startswith("PLATFORM_HUB_")}
        assert set(settings) == {
            "PLATFORM_HUB_INTEGRATOR_CLIENT_ID",
            "PLATFORM_HUB_INTEGRATOR_CLIENT_SECRET",
        }, name
        assert settings["PLATFORM_HUB_INTEGRATOR_CLIENT_ID"] != admin["client_id"]
        assert admin["client_secret"] not in "".join(children[name].values())
    # Databases, keys and the administrator's credentials are for their owner's eyes only.
    private = [
        path for path in (tmp_path / "demo").rglob("*") if path.is_file() and path.parent.name != "logs"
    ]
    assert {
        path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in private if path.stat().st_mode & 0o077
    } == {}
    assert {"admin.json", "auditor.json", "keys/platform_hub.token-secret"} <= kept
    # No 個人番号 in what the demo printed or any process logged.
    logs = "".join(path.read_text(errors="replace") for path in (tmp_path / "demo" / "logs").iterdir())
    for my_number in [resident.my_number for resident in generate_city(2026, RESIDENTS)] + [
        outsider(2026)["my_number"]
    ]:
        assert my_number not in out and my_number not in logs


def test_the_demo_keeps_one_runs_data(tmp_path: Path) -> None:
    (tmp_path / "earlier.db").write_text("")
    run, _ = demo(tmp_path)
    assert run.returncode != 0 and "is not empty" in run.stdout + run.stderr
