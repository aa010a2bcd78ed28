"""reqline: one requirement as an input line gives it (PEP 508, a URL with #egg=, a local
project), as a table of lines that read and lines that are refused with one line naming
where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockbuild.cli.reqline import make_requirement, placeholder_name
from lockbuild.errors import InputError
from lockbuild.spec import IndexOptions, Origin, shown

pytestmark = pytest.mark.unit

ORIGIN = Origin("requirements.in", 3)


@pytest.mark.parametrize(
    ("text", "name", "specifier", "extras", "url"),
    [
        ("requests", "requests", "", set(), None),
        ("Requests>=2.0,<3", "requests", "<3,>=2.0", set(), None),
        ("black[d, jupyter]==24.1", "black", "==24.1", {"d", "jupyter"}, None),
        ("pkg ; python_version < '3.9'", "pkg", "", set(), None),
        ("zope.interface~=6.0", "zope-interface", "~=6.0", set(), None),
        (
            "pkg @ https://files.example/pkg-1.0.tar.gz",
            "pkg",
            "",
            set(),
            "https://files.example/pkg-1.0.tar.gz",
        ),
        (
            "https://files.example/pkg-1.0.tar.gz#egg=pkg",
            "pkg",
            "",
            set(),
            "https://files.example/pkg-1.0.tar.gz",
        ),
        (
            "git+https://git.example/pkg.git@v1#egg=my_pkg",
            "my-pkg",
            "",
            set(),
            "git+https://git.example/pkg.git@v1",
        ),
    ],
)
def test_requirement_lines(
    text: str, name: str, specifier: str, extras: set[str], url: str | None, tmp_path: Path
) -> None:
    item = make_requirement(text, ORIGIN, tmp_path, False, editable=False)
    assert item.name == name
    assert str(item.requirement.specifier) == specifier
    assert item.requirement.extras == extras
    assert item.url == url
    assert item.origin == ORIGIN and not item.constraint and not item.editable


@pytest.mark.parametrize(
    ("text", "constraint", "message"),
    [
        (
            "https://files.example/pkg-1.0.tar.gz",
            False,
            "requirements.in line 3: a URL needs a name: write "
            "'NAME @ https://files.example/pkg-1.0.tar.gz'",
        ),
        ("pkg>=>1", False, "requirements.in line 3: invalid requirement 'pkg>=>1': "),
        ("pkg[extra]>=1", True, "requirements.in line 3: a constraint cannot have extras: "),
        (
            "./missing-dir",
            False,
            "requirements.in line 3: no such file or directory: ./missing-dir",
        ),
        (
            "file://otherhost/srv/pkg",
            False,
            "requirements.in line 3: file URL with a host is not supported: file://otherhost/srv/pkg",
        ),
        ("pkg ; python_version <", False, "requirements.in line 3: invalid requirement "),
    ],
)
def test_refused_lines(text: str, constraint: bool, message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        make_requirement(text, ORIGIN, tmp_path, constraint, editable=False)
    assert info.value.message.startswith(message)
    assert "\n" not in info.value.message


def test_a_long_invalid_line_is_cut_short_in_the_message(tmp_path: Path) -> None:
    text = "pkg" + ">=>1" * 200
    with pytest.raises(InputError) as info:
        make_requirement(text, ORIGIN, tmp_path, False, editable=False)
    assert "more characters)" in info.value.message
    assert len(info.value.message) < 600


@pytest.mark.parametrize(
    ("layout", "text", "placeholder", "extras", "marker"),
    [
        ("dir:myproj", "./myproj", "myproj", set(), None),
        ("dir:myproj", "./myproj[fast]", "myproj", {"fast"}, None),
        # a bare name with extras is a PEP 508 requirement even where a directory has it
        ("dir:myproj", "myproj[fast]", "myproj", {"fast"}, "pep508"),
        ("dir:my proj", "./my proj", "my-proj", set(), None),
        ("file:dist/pkg-1.0.tar.gz", "dist/pkg-1.0.tar.gz", "pkg", set(), None),
        ("file:pkg-2.0-py3-none-any.whl", "./pkg-2.0-py3-none-any.whl", "pkg", set(), None),
        (
            "dir:myproj",
            "./myproj ; sys_platform == 'linux'",
            "myproj",
            set(),
            'sys_platform == "linux"',
        ),
    ],
)
def test_local_projects_are_named_by_a_placeholder(
    tmp_path: Path, layout: str, text: str, placeholder: str, extras: set[str], marker: str | None
) -> None:
    kind, _, rel = layout.partition(":")
    path = tmp_path / rel
    if kind == "dir":
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    item = make_requirement(text, ORIGIN, tmp_path, False, editable=kind == "dir")
    if marker == "pep508":
        assert (item.name, item.url, item.path_text) == (placeholder, None, None)
        return
    assert item.requirement.name == placeholder
    assert item.requirement.extras == extras
    assert (str(item.requirement.marker) if item.requirement.marker else None) == marker
    assert item.url is not None and item.url.startswith("file://")
    assert Path(item.url.removeprefix("file://").replace("%20", " ")) == path.resolve()
    assert item.path_text == text.split(";")[0].split("[")[0].strip()


def test_a_file_url_with_a_name(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    item = make_requirement(
        f"proj @ file://{tmp_path}/proj", ORIGIN, tmp_path, False, editable=False
    )
    assert item.name == "proj"
    assert item.url == f"file://{tmp_path}/proj"


@pytest.mark.parametrize(
    ("name", "is_file", "expected"),
    [
        ("pkg-1.0.tar.gz", True, "pkg"),
        ("pkg-1.0-py3-none-any.whl", True, "pkg"),
        ("my_project", False, "my_project"),
        ("my-project-2", False, "my-project-2"),
        ("weird name!", False, "weird-name"),
        ("...", False, "unnamed"),
    ],
)
def test_placeholder_name(tmp_path: Path, name: str, is_file: bool, expected: str) -> None:
    path = tmp_path / name
    if is_file:
        path.write_bytes(b"")
    else:
        path.mkdir()
    assert placeholder_name(path) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("short", "'short'"),
        ("x" * 200, repr("x" * 200)),
        ("y" * 205, repr("y" * 200) + " (and 5 more characters)"),
    ],
)
def test_shown(text: str, expected: str) -> None:
    assert shown(text) == expected


@pytest.mark.parametrize(
    ("only_binary", "no_binary", "name", "binary", "source"),
    [
        (set(), set(), "a", True, True),
        ({":all:"}, set(), "a", True, False),
        (set(), {":all:"}, "a", False, True),
        ({":all:"}, {"a"}, "a", False, True),
        ({"a"}, {":all:"}, "a", True, False),
        ({":all:"}, {":all:"}, "a", True, True),  # both: neither excludes (pip's rule)
        ({"b"}, set(), "a", True, True),
    ],
)
def test_format_controls(
    only_binary: set[str], no_binary: set[str], name: str, binary: bool, source: bool
) -> None:
    options = IndexOptions(only_binary=frozenset(only_binary), no_binary=frozenset(no_binary))
    assert options.binary_allowed(name) is binary  # type: ignore[arg-type]
    assert options.source_allowed(name) is source  # type: ignore[arg-type]


def test_merged_index_options_keep_order_and_drop_repeats() -> None:
    first = IndexOptions(
        index_url="https://a.example/simple", extra_index_urls=("https://x.example",)
    )
    second = IndexOptions(extra_index_urls=("https://x.example", "https://y.example"), pre=True)
    merged = first.merged(second)
    assert merged.index_url == "https://a.example/simple"
    assert merged.extra_index_urls == ("https://x.example", "https://y.example")
    assert merged.pre
    assert first.merged(IndexOptions(index_url="https://b.example/simple")).index_url == (
        "https://b.example/simple"
    )
