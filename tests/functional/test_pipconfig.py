"""pip's configuration as lockbuild reads it, compared with what the real pip in
lockbuild's venv says: its default index, what wins, the constraint files of a target's
pip (the tables with the files in memory are in tests/unit/test_pipconfig.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lockbuild.index.pipconfig import (
    Place,
    configured_constraints,
    default_from_help,
    pip_default_index,
    read_config,
)
from tests.fixtures import isolated_env


def test_the_default_index_is_what_pip_says_it_is() -> None:
    """The source read gives what the pip in lockbuild's venv states in its help."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--help"],
        capture_output=True,
        text=True,
        env={**isolated_env(Path("/nonexistent")), "COLUMNS": "1000"},
        check=True,
    )
    assert pip_default_index() == default_from_help(proc.stdout)


LEGACY, CURRENT, XDG = "home/.pip/pip.conf", "home/.config/pip/pip.conf", "xdg/pip/pip.conf"

# (files under tmp_path, variables, pip install's index URL and retries)
REAL_PIP_CASES = [
    ({XDG: "[global]\nindex-url = http://g/\n"}, {}, ("http://g/", "5")),
    (
        {XDG: "[global]\nindex-url = http://g/\nretries = 1\n", CURRENT: "[global]\nretries = 3\n"},
        {},
        ("http://g/", "3"),
    ),
    (
        {
            XDG: "[global]\nretries = 1\n",
            LEGACY: "[global]\nretries = 2\n[install]\nindex-url = http://i/\n",
            CURRENT: "[global]\nindex-url = http://u/\n",
        },
        {},
        ("http://i/", "2"),  # [install] over [global]; the current file over the legacy one
    ),
    (
        {CURRENT: "[global]\nretries = 9\n", "c.conf": "[global]\nindex-url = http://c/\n"},
        {"PIP_CONFIG_FILE": "c.conf"},
        ("http://c/", "5"),  # PIP_CONFIG_FILE exists: the user file is not read
    ),
    (
        {XDG: "[global]\nindex-url = http://g/\nretries = 4\n"},
        {"PIP_INDEX_URL": "http://e/", "PIP_CONFIG_FILE": "missing.conf"},
        ("http://e/", "4"),
    ),
]


@pytest.mark.parametrize(("files", "variables", "expected"), REAL_PIP_CASES)
def test_what_wins_is_what_pip_install_takes(
    tmp_path: Path, files: dict[str, str], variables: dict[str, str], expected: tuple[str, str]
) -> None:
    """Against the real pip in lockbuild's venv: the values ``pip install --help`` shows
    as its defaults (pip's configuration applied) are the ones read here."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = isolated_env(tmp_path, PIP_CONFIG_FILE=None, COLUMNS="1000")
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_DIRS=str(tmp_path / "xdg"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
    )
    env.update(
        {k: str(tmp_path / v) if k == "PIP_CONFIG_FILE" else v for k, v in variables.items()}
    )
    help_text = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    shown = re.search(r"--index-url <url> .*?\(default (\S+)\)", help_text)
    retries = re.search(r"--retries <retries> .*?\(default: (\d+)\)", help_text)
    assert shown is not None and retries is not None
    assert (shown.group(1), retries.group(1)) == expected
    config = read_config(Place(env, sys.prefix))
    sections = ("global", "install")
    assert (config.get("index-url", sections), config.get("retries", sections) or "5") == expected


def test_sync_reads_the_constraint_files_of_the_target_pip(tmp_path: Path) -> None:
    """The site file of the target's prefix counts; [install] over [global]."""
    prefix = tmp_path / "venv"
    prefix.mkdir()
    (prefix / "pip.conf").write_text(
        "[global]\nconstraint = /g.txt\n[install]\nconstraint = /i.txt\n"
    )
    env = isolated_env(tmp_path, PIP_CONFIG_FILE=None, HOME=str(tmp_path / "home"))
    env["XDG_CONFIG_DIRS"] = str(tmp_path / "none")
    assert configured_constraints(str(prefix), env) == ["/i.txt"]
    assert configured_constraints(str(tmp_path / "elsewhere"), env) == []
