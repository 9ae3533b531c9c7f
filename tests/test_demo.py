"""``platform-hub demo``: the demo city's scenario end to end, every process real and on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from platform_hub_demo.residents import generate_city

RESIDENTS = 30


def demo(data_dir: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str]]]:
    """The demo's run, and the environment each of its children (``hub``, and each mock unit by name)
    was started with, read from /proc while they ran."""
    command = [sys.executable, "-m", "platform_hub.cli", "demo", "--once", "--data-dir", str(data_dir),
               "--residents", str(RESIDENTS)]  # fmt: skip
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
                name = "hub" if "serve" in argv else argv[argv.index("mock-unit") + 1]
                entries = (proc / "environ").read_bytes().decode().split("\0")
                seen[name] = dict(entry.partition("=")[::2] for entry in entries if entry)
        time.sleep(0.1)


def test_the_demo_runs_the_scenario_and_keeps_everything_under_its_data_dir(tmp_path: Path) -> None:
    run, children = demo(tmp_path / "demo")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    # Three applicants, each step as it happened, with the hub's reception numbers and codes.
    assert out.count("認定請求 — 申請者") == 3
    assert "✓ 地方税関係情報の照会 IF_ZEI_0001 受付番号" in out  # the resident's income, allowed (U-03)
    assert "住登外者の登録" in out and "E3002" in out  # the 住登外者: registered, no 住民票
    assert "✗ 地方税関係情報の照会 IF_ZEI_0001" in out and "E3001" in out  # after the amendment
    assert out.count("→ 保留") == 2
    # Then what an auditor sees: the trail, compliance under the rules of each moment, the chain.
    assert "やりとり履歴" in out and "別表第2 第6項" in out
    assert "違反 0 件" in out and "IF_ZEI_0001 → 011" in out
    assert "操作記録" in out and "ハッシュチェーンと署名付きチェックポイント" in out
    # Every database, key and log of the demo is under the data directory.
    kept = {path.relative_to(tmp_path / "demo").as_posix() for path in (tmp_path / "demo").rglob("*")}
    units = ("juki", "zeimu", "jidou-teate", "shugaku-enjo")
    assert {"hub.db", "keys/my-number-keys.json", "keys/signing-key.pem", "logs/hub.log"} <= kept
    assert {f"units/{name}.db" for name in units} | {f"logs/{name}.log" for name in units} <= kept
    # The units run with their own settings: an integrator's credentials made for them, none of the hub's.
    admin = json.loads((tmp_path / "demo" / "admin.json").read_text())
    assert "PLATFORM_HUB_ADMIN_CLIENT_SECRET" in children["hub"]
    assert set(children) == {"hub", *units}
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
    assert {"admin.json", "keys/platform_hub.token-secret"} <= kept
    # No 個人番号 in what the demo printed or any process logged.
    logs = "".join(path.read_text(errors="replace") for path in (tmp_path / "demo" / "logs").iterdir())
    for resident in generate_city(2026, RESIDENTS):
        assert resident.my_number not in out and resident.my_number not in logs


def test_the_demo_keeps_one_runs_data(tmp_path: Path) -> None:
    (tmp_path / "earlier.db").write_text("")
    run, _ = demo(tmp_path)
    assert run.returncode != 0 and "is not empty" in run.stdout + run.stderr
