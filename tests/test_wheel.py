"""The hub installed from its wheel, as the image's ``pip install .`` installs it, finds its
migrations and its interface catalog with no repository beside it. (.ci/wheel-check goes further: a
clean virtualenv with the dependencies from the registry, and the demo city.)"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _source_copy(into: Path) -> Path:
    """The files git knows, copied: a work tree's setuptools build/ may hold modules since removed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source, target = REPO_ROOT / name, into / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return into


def _run(site: Path, cwd: Path, *arguments: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_HUB_")}
    run = subprocess.run(
        [sys.executable, *arguments],
        env={**env, "PYTHONPATH": str(site)}, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_the_installed_wheel_finds_its_migrations_and_catalog(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", source],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("platform_hub-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.startswith(("adapters/", "tests/"))]
    assert "platform_hub/interface_specs/ordinance/2026-04.yaml" in names
    assert "platform_hub_national/data/nws_table.yaml" in names  # the mock NWS's table
    site, empty = tmp_path / "site", tmp_path / "empty"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, wheel],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    empty.mkdir()
    where = _run(site, empty, "-c", "import platform_hub, platform_hub_demo; print(platform_hub.__file__)")
    assert Path(where.strip()).is_relative_to(site), where
    _run(site, empty, "-m", "platform_hub.cli", "db", "upgrade")
    assert (empty / "platform_hub.db").exists()
    validated = _run(site, empty, "-m", "platform_hub.cli", "interfaces", "validate")
    specs = (REPO_ROOT / "platform_hub/interface_specs").glob("IF_*.yaml")
    interfaces = {path.name.partition(".")[0] for path in specs}  # IF_ZEI_0001.v2.yaml is IF_ZEI_0001's
    assert validated.count("✓") == len(interfaces)
