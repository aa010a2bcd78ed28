"""[tool.lockbuild] read from pyproject.toml: each key's kind, its choices, unknown keys
with the closest valid one suggested, and each refusal one line naming the file; and the
constraints that steer a resolution (-P, build overrides, existing pins)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from lockbuild.cli import config
from lockbuild.cli.constraints import build_overrides, preferences, upgrade_constraints
from lockbuild.errors import InputError, UsageError
from lockbuild.model import Kind
from lockbuild.spec import CompileOptions
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit


def _project(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n{table}\n")
    (tmp_path / "requirements.in").write_text("")
    return tmp_path / "requirements.in"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("", {}),
        ("[tool.lockbuild]\n", {}),
        (
            '[tool.lockbuild]\nindex-url = "https://i.example/simple"',
            {"index_url": "https://i.example/simple"},
        ),
        (
            '[tool.lockbuild]\nextra-index-url = "https://x.example"',
            {"extra_index_url": ("https://x.example",)},
        ),
        ('[tool.lockbuild]\nfind-links = ["a", "b"]', {"find_links": ("a", "b")}),
        ("[tool.lockbuild]\ngenerate-hashes = true", {"generate_hashes": True}),
        ('[tool.lockbuild]\nbuild-deps-for = "all"', {"build_deps_for": "all"}),
        (
            '[tool.lockbuild]\ngroups = ["dev"]\nextras = "fast"',
            {"group": ("dev",), "extra": ("fast",)},
        ),
        ('[tool.lockbuild]\nexclude-newer = "7 days"', {"exclude_newer": "7 days"}),
        (
            '[tool.lockbuild]\nbuild-constraints = ["setuptools<70"]',
            {"build_constraints": ("setuptools<70",)},
        ),
    ],
)
def test_valid_tables(tmp_path: Path, table: str, expected: dict[str, object]) -> None:
    loaded = config.load([_project(tmp_path, table)])
    assert loaded.values == expected
    assert loaded.path == tmp_path / "pyproject.toml"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "[tool.lockbuild]\nindex_url = 'x'",
            "[tool.lockbuild] unknown key 'index_url'; did you mean 'index-url'?",
        ),
        ("[tool.lockbuild]\nzzz = 1", "[tool.lockbuild] unknown key 'zzz'"),
        ("[tool.lockbuild]\npre = 'yes'", "[tool.lockbuild] pre must be true or false"),
        ("[tool.lockbuild]\nindex-url = 3", "[tool.lockbuild] index-url must be a string"),
        (
            "[tool.lockbuild]\nfind-links = [1]",
            "[tool.lockbuild] find-links must be a list of strings",
        ),
        (
            "[tool.lockbuild]\nbuild-deps-for = 'some'",
            "[tool.lockbuild] build-deps-for must be 'needed' or 'all', not 'some'",
        ),
        ("[tool]\nlockbuild = 3", "[tool.lockbuild] is not a table"),
        ("[tool.lockbuild\n", "not valid TOML: "),
    ],
)
def test_refused_tables(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        config.load([_project(tmp_path, table)])
    assert message in info.value.message
    assert "pyproject.toml: " in info.value.message
    assert "\n" not in info.value.message


def test_no_pyproject_no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.load([tmp_path / "requirements.in"]) == config.Config(None, {})
    monkeypatch.chdir(tmp_path)
    assert config.config_path([]) is None  # the default input's folder: here
    (tmp_path / "pyproject.toml").write_text("")
    assert config.config_path([]) == Path("pyproject.toml")


def test_the_pyproject_given_as_input_is_the_config(tmp_path: Path) -> None:
    _project(tmp_path, "[tool.lockbuild]\npre = true")
    assert config.load([tmp_path / "pyproject.toml"]).values == {"pre": True}


def test_every_key_maps_to_a_distinct_parameter() -> None:
    params = [param for param, _ in config.KEYS.values()]
    assert len(params) == len(set(params))
    assert set(config.CHOICES) <= set(config.KEYS)


def _options(tmp_path: Path, **kwargs: object) -> CompileOptions:
    return CompileOptions(
        sources=(tmp_path / "requirements.in",),
        output_file=tmp_path / "requirements.txt",
        build_output_file=tmp_path / "requirements-build.txt",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("packages", "constrained"),
    [
        ((), []),
        (("requests",), []),
        (("requests==2.31",), ["requests==2.31"]),
        (("a>1", "b"), ["a>1"]),
    ],
)
def test_upgrade_constraints(
    tmp_path: Path, packages: tuple[str, ...], constrained: list[str]
) -> None:
    reqs = upgrade_constraints(_options(tmp_path, upgrade_packages=packages))
    assert [r.text for r in reqs] == constrained
    assert all(r.kind == Kind.CONSTRAINT and r.origin == "--upgrade-package" for r in reqs)


def test_an_upgrade_package_that_is_no_requirement(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--upgrade-package '==1': not a requirement$"):
        upgrade_constraints(_options(tmp_path, upgrade_packages=("==1",)))


TARGET = for_platform("3.11", ["manylinux_2_28_x86_64"])


def test_build_overrides_from_files_and_config(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("cython<3\nnumpy<2 ; sys_platform == 'win32'\n")
    options = _options(
        tmp_path,
        build_constraint_files=(overrides,),
        build_constraints=("setuptools<70",),
        config_file=tmp_path / "pyproject.toml",
    )
    found = build_overrides(options, TARGET)
    assert [(r.text, r.kind) for r in found] == [
        ("cython<3", Kind.OVERRIDE),
        ("setuptools<70", Kind.OVERRIDE),
    ]
    assert found[1].origin is not None and found[1].origin.endswith(
        "pyproject.toml [tool.lockbuild]"
    )


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "--build-constraint missing.txt: no such file"),
        ("dir", "--build-constraint dir.txt: not a regular file"),
        ("config", "[tool.lockbuild] build-constraints item 1: invalid requirement '>=1'"),
    ],
)
def test_refused_build_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setup: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.txt").mkdir()
    if setup == "config":
        options = _options(tmp_path, build_constraints=(">=1",))
    else:
        options = _options(tmp_path, build_constraint_files=(Path(f"{setup}.txt"),))
    with pytest.raises(InputError) as info:
        build_overrides(options, TARGET)
    assert message in info.value.message


LOCK = """\
#
# This file is autogenerated by lockbuild
#
attrs==23.2.0
    # via -r requirements.in
requests==2.31.0
    # via -r requirements.in
"""


@pytest.mark.parametrize(
    ("upgrade", "packages", "expected"),
    [
        (False, (), {"attrs": "23.2.0", "requests": "2.31.0"}),
        (True, (), {}),
        (False, ("requests",), {"attrs": "23.2.0"}),
        (False, ("Requests>=2",), {"attrs": "23.2.0"}),
    ],
)
def test_existing_pins_are_preferred(
    tmp_path: Path, upgrade: bool, packages: tuple[str, ...], expected: dict[str, str]
) -> None:
    (tmp_path / "requirements.txt").write_text(LOCK)
    prefs = preferences(_options(tmp_path, upgrade=upgrade, upgrade_packages=packages))
    assert prefs == {name: Version(v) for name, v in expected.items()}


def test_no_lock_yet_no_preferences(tmp_path: Path) -> None:
    assert preferences(_options(tmp_path)) == {}
