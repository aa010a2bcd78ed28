"""The programs lockbuild runs in other interpreters (lockbuild/build/programs/) run there: on
lockbuild's own interpreter and on every other CPython this machine has from 3.8 on
(a sync target or a --python for compile may be older than lockbuild's)."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import packaging
import pytest
from packaging.specifiers import SpecifierSet

from lockbuild.build import probe, programs
from lockbuild.build.provenance import interpreter_key
from lockbuild.sync import interpreter

OLDEST = (3, 8)  # importlib.metadata, which environment.py reads distributions with


def _interpreters() -> list[str]:
    found = [sys.executable]
    for path in sorted(Path.home().glob(".pyenv/versions/3.*/bin/python3.*")):
        if path.name.endswith("-config") or not path.name[len("python") :].count(".") == 1:
            continue
        try:
            minor = int(path.name.rsplit(".", 1)[1])
        except ValueError:
            continue
        if (3, minor) >= OLDEST and (3, minor) != sys.version_info[:2]:
            found.append(str(path))
    return found


PYTHONS = _interpreters()


def _version(python: str) -> str:
    out = subprocess.run(
        [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("python", PYTHONS)
def test_environment_program_describes_its_interpreter(python: str) -> None:
    version = _version(python)
    env = interpreter.probe(python)
    assert env.python_version.startswith(version + ".")
    assert dict(env.markers)["python_version"] == version
    assert dict(env.markers)["implementation_name"] == "cpython"
    assert env.is_venv == (python == sys.executable and sys.prefix != sys.base_prefix)
    pins = probe.installed_pins(python)
    assert pins is not None and pins == tuple(sorted(pins))
    assert all("==" in pin for pin in pins)
    if python == sys.executable:
        assert any(pin.startswith("lockbuild==") for pin in pins)
    key = interpreter_key(python)
    assert key is not None and key.startswith(f"cpython-{version}-")


@pytest.mark.parametrize("python", PYTHONS)
def test_markers_program_uses_lockbuilds_packaging(python: str) -> None:
    """markers.py imports the packaging lockbuild runs with: it runs where that
    packaging does (its Requires-Python), which is what ``compile --python`` needs."""
    supported = SpecifierSet(importlib.metadata.metadata("packaging")["Requires-Python"] or "")
    if not supported.contains(_version(python) + ".0"):
        pytest.skip(f"lockbuild's packaging requires Python {supported}")
    site = str(Path(packaging.__file__).resolve().parent.parent)
    out = subprocess.run(
        [python, "-I", str(programs.path("markers")), site],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["env"]["python_version"] == _version(python)
    assert data["tags"] and all(tag.count("-") == 2 for tag in data["tags"])


@pytest.mark.parametrize("python", PYTHONS)
def test_hooks_program_compiles_there(python: str) -> None:
    source = programs.path("hooks")
    check = "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')"
    proc = subprocess.run([python, "-I", "-c", check, str(source)], capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_an_interpreter_that_cannot_be_asked_is_none(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert probe.installed_pins(str(broken)) is None
    assert probe.markers_of(str(broken)) is None
    assert interpreter_key(str(broken)) is None
