"""Two small policies as tables: which file of a release the target would install
(resolve/files: the best wheel, else the sdist; yanked files only for an exact pin;
--only-binary and --no-binary), and the limits read from LOCKBUILD_* variables (a
malformed value is one line naming the variable)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild import limits
from lockbuild.errors import UsageError
from lockbuild.index.listing import make_dist_file
from lockbuild.model import DistFile
from lockbuild.resolve.files import choose_file, yanked_allowed
from lockbuild.spec import IndexOptions
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit

TARGET = for_platform("3.11", ["manylinux_2_28_x86_64"])
NAME = canonicalize_name("pkg")


def files(
    *names: str, yanked: tuple[str, ...] = (), requires: dict[str, str] | None = None
) -> list[DistFile]:
    made = []
    for name in names:
        dist = make_dist_file(
            name,
            f"https://files.example/{name}",
            yanked="broken" if name in yanked else None,
            requires_python=(requires or {}).get(name),
        )
        assert dist is not None
        made.append(dist)
    return made


PURE = "pkg-1.0-py3-none-any.whl"
LINUX = "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
WIN = "pkg-1.0-cp311-cp311-win_amd64.whl"
OLD = "pkg-1.0-cp39-cp39-manylinux_2_17_x86_64.whl"
SDIST = "pkg-1.0.tar.gz"
ZIP = "pkg-1.0.zip"


@pytest.mark.parametrize(
    ("names", "options", "allow_yanked", "yanked", "chosen"),
    [
        ((PURE, LINUX, SDIST), IndexOptions(), False, (), LINUX),  # the most specific tag
        ((PURE, SDIST), IndexOptions(), False, (), PURE),
        ((WIN, SDIST), IndexOptions(), False, (), SDIST),  # no wheel for the target
        ((WIN, OLD), IndexOptions(), False, (), None),  # nothing usable at all
        ((ZIP, SDIST), IndexOptions(), False, (), SDIST),  # a .tar.gz before a .zip
        ((SDIST, ZIP), IndexOptions(), False, (), SDIST),
        ((ZIP,), IndexOptions(), False, (), ZIP),
        ((LINUX, SDIST), IndexOptions(no_binary=frozenset({"pkg"})), False, (), SDIST),
        ((LINUX, SDIST), IndexOptions(no_binary=frozenset({":all:"})), False, (), SDIST),
        ((WIN, SDIST), IndexOptions(only_binary=frozenset({":all:"})), False, (), None),
        ((LINUX, SDIST), IndexOptions(), False, (LINUX,), SDIST),  # a yanked wheel passed over
        ((LINUX, SDIST), IndexOptions(), True, (LINUX,), LINUX),  # unless pinned exactly
        ((LINUX,), IndexOptions(), False, (LINUX,), None),
    ],
)
def test_choose_file(
    names: tuple[str, ...],
    options: IndexOptions,
    allow_yanked: bool,
    yanked: tuple[str, ...],
    chosen: str | None,
) -> None:
    found = choose_file(files(*names, yanked=yanked), NAME, TARGET, options, allow_yanked)
    assert (found.filename if found else None) == chosen


def test_a_file_for_another_python_is_passed_over() -> None:
    dists = files(PURE, SDIST, requires={PURE: ">=3.12"})
    found = choose_file(dists, NAME, TARGET, IndexOptions(), False)
    assert found is not None and found.filename == SDIST


def test_the_highest_build_tag_wins() -> None:
    dists = files(
        "pkg-1.0-1-py3-none-any.whl", "pkg-1.0-3-py3-none-any.whl", "pkg-1.0-2-py3-none-any.whl"
    )
    found = choose_file(dists, NAME, TARGET, IndexOptions(), False)
    assert found is not None and found.filename == "pkg-1.0-3-py3-none-any.whl"


@pytest.mark.parametrize(
    ("specifiers", "version", "allowed"),
    [
        (["==1.0"], "1.0", True),
        (["===1.0"], "1.0", True),
        (["==1.*"], "1.0", False),  # a wildcard is not an exact pin (PEP 592)
        ([">=1.0"], "1.0", False),
        (["<2", "==1.0"], "1.0", True),
        (["==1.1"], "1.0", False),
        ([], "1.0", False),
    ],
)
def test_yanked_allowed(specifiers: list[str], version: str, allowed: bool) -> None:
    assert yanked_allowed([SpecifierSet(s) for s in specifiers], Version(version)) is allowed


@pytest.mark.parametrize(
    ("variable", "read", "default"),
    [
        ("LOCKBUILD_TIMEOUT", limits.timeout, limits.DEFAULT_TIMEOUT),
        ("LOCKBUILD_DEADLINE", limits.deadline, limits.DEFAULT_DEADLINE),
        ("LOCKBUILD_RETRIES", limits.retries, limits.DEFAULT_RETRIES),
        ("LOCKBUILD_MAX_PAGE_BYTES", limits.max_page_bytes, limits.DEFAULT_MAX_PAGE_BYTES),
        (
            "LOCKBUILD_MAX_UNPACKED_BYTES",
            limits.max_unpacked_bytes,
            limits.DEFAULT_MAX_UNPACKED_BYTES,
        ),
        ("LOCKBUILD_BUILD_TIMEOUT", limits.build_timeout, limits.DEFAULT_BUILD_TIMEOUT),
        ("LOCKBUILD_HOOK_TIMEOUT", limits.hook_timeout, limits.DEFAULT_HOOK_TIMEOUT),
    ],
)
def test_limits_default_and_override(
    monkeypatch: pytest.MonkeyPatch, variable: str, read: Callable[[], float], default: float
) -> None:
    monkeypatch.delenv(variable, raising=False)
    assert read() == default
    monkeypatch.setenv(variable, " ")
    assert read() == default
    monkeypatch.setenv(variable, "7")
    assert read() == 7
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv(variable, bad)
        with pytest.raises(
            UsageError, match=rf"^environment variable {variable}: expected a positive"
        ):
            read()


@pytest.mark.parametrize("value", ["1.5", "0.25", "2"])
def test_fractional_seconds(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LOCKBUILD_TIMEOUT", value)
    assert limits.timeout() == float(value)


def test_a_byte_count_is_a_whole_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKBUILD_MAX_PAGE_BYTES", "1.5")
    with pytest.raises(UsageError, match="expected a positive integer, got '1.5'"):
        limits.max_page_bytes()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("pip", "pip"), ("UV", "uv"), (" uv ", "uv"), ("conda", UsageError)],
)
def test_hook_installer(monkeypatch: pytest.MonkeyPatch, value: str, expected: object) -> None:
    monkeypatch.setenv("LOCKBUILD_HOOK_INSTALLER", value)
    if expected is UsageError:
        with pytest.raises(
            UsageError, match="LOCKBUILD_HOOK_INSTALLER: expected pip or uv, got 'conda'"
        ):
            limits.hook_installer()
    else:
        assert limits.hook_installer() == expected
