"""requirements.lock keeps up with pyproject.toml: every package the hub and its dev extra name is
pinned there, at a version pyproject allows. (Read offline; the header says how to regenerate it.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    lines = (REPO_ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pinned = [Requirement(line.removesuffix("\\").strip()) for line in lines if line[:1].isalnum()]
    return {canonicalize_name(pin.name): str(pin.specifier).removeprefix("==") for pin in pinned}


def test_the_lock_pins_every_requirement_of_pyproject() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    named = [Requirement(r) for r in [*project["dependencies"], *extras["redis"], *extras["dev"]]]
    pins = _pins()
    assert len(pins) > len(named)
    for requirement in named:
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(project["name"]):
            continue  # the dev extra's platform-hub[redis]: the project itself
        assert name in pins, f"{requirement} is not in requirements.lock: regenerate it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, pyproject wants {requirement}: regenerate it"
        )
