"""A project file as input: the project itself as a root (named by a placeholder until its
metadata is read, with the extras asked for), and its PEP 735 dependency groups, includes
resolved; each refusal one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbuild.cli.project import project_inputs
from lockbuild.errors import InputError

pytestmark = pytest.mark.unit

GROUPS = """
[project]
name = "demo"

[dependency-groups]
test = ["pytest>=8", {include-group = "lint"}]
lint = ["ruff==0.5.0"]
loop = [{include-group = "loop"}]
bad = ["not a requirement!"]
"""


def _write(tmp_path: Path, text: str = GROUPS) -> Path:
    (tmp_path / "demo").mkdir()
    path = tmp_path / "demo" / "pyproject.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extras", "all_extras", "groups", "lines"),
    [
        ((), False, (), []),
        (("Fast", "gpu"), False, (), []),
        ((), True, (), []),
        ((), False, ("lint",), ["ruff==0.5.0"]),
        ((), False, ("test",), ["pytest>=8", "ruff==0.5.0"]),
        ((), False, ("lint", "test"), ["ruff==0.5.0", "pytest>=8", "ruff==0.5.0"]),
    ],
)
def test_the_project_and_its_groups(
    tmp_path: Path,
    extras: tuple[str, ...],
    all_extras: bool,
    groups: tuple[str, ...],
    lines: list[str],
) -> None:
    path = _write(tmp_path)
    found, files = project_inputs(path, extras, all_extras, groups)
    root, rest = found[0], found[1:]
    assert root.project and root.all_extras is all_extras
    assert root.requirement.name == "demo"
    assert root.requirement.extras == {e.lower() for e in extras}
    assert root.url == f"file://{tmp_path / 'demo'}"
    assert [str(item.requirement) for item in rest] == lines
    assert all(
        item.via.endswith(f"(group {g})")
        for item, g in zip(rest, _group_of(groups, lines), strict=True)
    )
    assert files == [path.resolve(), path.resolve()]


def _group_of(groups: tuple[str, ...], lines: list[str]) -> list[str]:
    sizes = {"lint": 1, "test": 2}
    return [g for g in groups for _ in range(sizes[g])][: len(lines)]


@pytest.mark.parametrize(
    ("text", "groups", "message"),
    [
        (
            GROUPS,
            ("docs",),
            "pyproject.toml: no dependency group 'docs' (known: bad, lint, loop, test)",
        ),
        (GROUPS, ("loop",), "pyproject.toml: dependency group 'loop': "),
        (GROUPS, ("bad",), "pyproject.toml: dependency group 'bad': "),
        ("[project]\nname = 'demo'\n", ("test",), "pyproject.toml: no [dependency-groups] table"),
        ("[project\n", (), "pyproject.toml: not valid TOML: "),
    ],
)
def test_refused(tmp_path: Path, text: str, groups: tuple[str, ...], message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        project_inputs(path, (), False, groups)
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_no_such_project_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such project file: "):
        project_inputs(tmp_path / "setup.py", (), False, ())


def test_a_setup_py_project_without_pyproject(tmp_path: Path) -> None:
    (tmp_path / "legacy").mkdir()
    path = tmp_path / "legacy" / "setup.py"
    path.write_text("from setuptools import setup; setup()\n")
    found, files = project_inputs(path, (), False, ())
    assert [item.requirement.name for item in found] == ["legacy"]
    assert files == [path.resolve()]
