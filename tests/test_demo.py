"""``platform-hub demo``: the demo city's scenario end to end, every process real and on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from adapters.residents import generate_city

RESIDENTS = 30


def demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "platform_hub.cli", "demo", "--once", "--data-dir", str(data_dir),
         "--residents", str(RESIDENTS)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_the_demo_runs_the_scenario_and_keeps_everything_under_its_data_dir(tmp_path: Path) -> None:
    run = demo(tmp_path / "demo")
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
    assert "件の記録とハッシュチェーン" in out
    # Every database, key and log of the demo is under the data directory.
    kept = {path.relative_to(tmp_path / "demo").as_posix() for path in (tmp_path / "demo").rglob("*")}
    units = ("juki", "zeimu", "jidou-teate", "shugaku-enjo")
    assert {"hub.db", "keys/my-number-keys.json", "keys/signing-key.pem", "logs/hub.log"} <= kept
    assert {f"units/{name}.db" for name in units} | {f"logs/{name}.log" for name in units} <= kept
    # No 個人番号 in what the demo printed or any process logged.
    logs = "".join(path.read_text(errors="replace") for path in (tmp_path / "demo" / "logs").iterdir())
    for resident in generate_city(2026, RESIDENTS):
        assert resident.my_number not in out and resident.my_number not in logs


def test_the_demo_keeps_one_runs_data(tmp_path: Path) -> None:
    (tmp_path / "earlier.db").write_text("")
    run = demo(tmp_path)
    assert run.returncode != 0 and "is not empty" in run.stdout + run.stderr
