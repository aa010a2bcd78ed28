"""The reference site builds strictly: every page, offline, and a broken link or anchor
fails the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import isolated_env
from tests.helpers import ROOT

MKDOCS = Path(sys.executable).parent / "mkdocs"


def _build(project: Path, site: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", copy / "docs")
    return copy


@pytest.mark.skipif(not MKDOCS.exists(), reason="mkdocs is not installed beside lockbuild")
def test_docs_build_strictly(project: Path, tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    proc = _build(project, tmp_path / "site", env)
    assert proc.returncode == 0, proc.stderr
    pages = {
        p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*.html")
    }
    assert {"index.html", "commands/index.html", "sync/index.html"} <= pages
    assert {"checks/index.html", "design/index.html"} <= pages


@pytest.mark.skipif(not MKDOCS.exists(), reason="mkdocs is not installed beside lockbuild")
@pytest.mark.parametrize(
    "line",
    ["[gone](no-such-page.md)", "[gone](commands.md#no-such-section)"],
)
def test_a_broken_link_fails_the_build(project: Path, tmp_path: Path, line: str) -> None:
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + f"\n{line}\n")
    proc = _build(project, tmp_path / "site", isolated_env(tmp_path))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Aborted with 1 warnings in strict mode" in output
    assert line.split("(")[1].rstrip(")") in output  # the warning names the link
