"""Property-based tests: the requirements-file parser and the lockfile writer/reader."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.cli.reqfile import read_spec
from lockbuild.errors import InputError
from lockbuild.lock.formats import build_file_for, read_lock, render_pair
from lockbuild.lock.model import Entry, Header, Locked, TextStyle
from lockbuild.model import Candidate
from lockbuild.resolve.graph import Pin
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"\A[A-Za-z0-9]([A-Za-z0-9._-]{0,15}[A-Za-z0-9])?\Z")
versions = st.builds(
    lambda release, pre, post, dev: ".".join(map(str, release)) + pre + post + dev,
    st.lists(st.integers(0, 30), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "b2", "rc1"]),
    st.sampled_from(["", ".post1"]),
    st.sampled_from(["", ".dev3"]),
)
spaces = st.sampled_from(["", " ", "  "])


@st.composite
def specifiers(draw: st.DrawFn) -> str:
    clauses = []
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["==", "!=", "<=", ">=", "<", ">", "~="]))
        version = draw(versions)
        if op in ("==", "!=") and draw(st.booleans()):
            version = version.split("a")[0].split("b")[0].split("rc")[0].split(".post")[0]
            version = version.split(".dev")[0] + ".*"
        clauses.append(f"{draw(spaces)}{op}{draw(spaces)}{version}")
    text = ",".join(clauses)
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        assume(False)
    return text


marker_values = st.text(
    st.characters(whitelist_categories=("L", "N"), whitelist_characters="._- "), max_size=10
)


@st.composite
def markers(draw: st.DrawFn, depth: int = 0) -> str:
    if depth < 2 and draw(st.booleans()):
        left = draw(markers(depth + 1))
        right = draw(markers(depth + 1))
        joined = f"{left} {draw(st.sampled_from(['and', 'or']))} {right}"
        return f"({joined})" if draw(st.booleans()) else joined
    variable = draw(
        st.sampled_from(
            ["python_version", "sys_platform", "os_name", "platform_machine", "implementation_name"]
        )
    )
    op = draw(st.sampled_from(["==", "!=", ">=", "<", "in", "not in"]))
    value = draw(versions) if variable == "python_version" else draw(marker_values)
    quote = draw(st.sampled_from(['"', "'"]))
    return f"{variable} {op} {quote}{value}{quote}"


@st.composite
def requirement_lines(draw: st.DrawFn) -> tuple[str, str, frozenset[str], str, str | None]:
    """(line as written, name, extras, specifier text, marker text or None)."""
    name = draw(names)
    extras = draw(st.lists(names, max_size=3, unique_by=canonicalize_name))
    spec = draw(specifiers())
    marker = draw(st.none() | markers())
    line = name
    if extras:
        line += f"{draw(spaces)}[{', '.join(extras)}]"
    if spec:
        line += draw(spaces) + spec
    if marker is not None:
        line += f"{draw(spaces)};{draw(spaces)}{marker}"
    if draw(st.booleans()):
        line += f"{draw(st.sampled_from([' ', '  ', chr(9)]))}# {draw(marker_values)}"
    return line, name, frozenset(extras), spec, marker


@SETTINGS
@given(
    st.lists(requirement_lines(), min_size=1, max_size=6),
    st.lists(st.sampled_from(["", "# a comment", "   ", "#-r nowhere.txt"]), max_size=6),
)
def test_valid_requirement_lines_round_trip(
    lines: list[tuple[str, str, frozenset[str], str, str | None]], filler: list[str]
) -> None:
    text_lines: list[str] = []
    expected_lines: list[int] = []
    for index, (line, *_rest) in enumerate(lines):
        if index < len(filler):
            text_lines.append(filler[index])
        text_lines.append(line)
        expected_lines.append(len(text_lines))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requirements.in"
        path.write_text("\n".join(text_lines) + "\n", encoding="utf-8")
        spec = read_spec([path])
    assert len(spec.requirements) == len(lines)
    for item, (_line, name, extras, spec_text, marker), lineno in zip(
        spec.requirements, lines, expected_lines, strict=True
    ):
        req = item.requirement
        assert canonicalize_name(req.name) == canonicalize_name(name)
        assert {canonicalize_name(e) for e in req.extras} == {canonicalize_name(e) for e in extras}
        assert req.specifier == SpecifierSet(spec_text)
        if marker is None:
            assert req.marker is None
        else:
            assert str(req.marker) == str(Marker(marker))
        assert item.origin.line == lineno
        assert not item.constraint and item.url is None


_OPTIONS = st.sampled_from(
    ["", "", "-r ", "-c ", "-e ", "-i ", "-f ", "--index-url=", "--no-binary ", "--frob ", "-"]
)
_TOKENS = st.sampled_from(
    [
        "--hash=sha256:",
        " --hash ",
        " #",
        "#",
        "\\",
        "@ ",
        "; ",
        "[",
        "]",
        "==",
        "~=",
        "file:",
        "https://",
        "${HOME}",
        "${NOPE}",
        ".",
        "/",
        "..",
        "'",
        '"',
        "\x00",
        "\t",
        "\r",
        "\x0c",
        "beta",
        "requirements.in",
        ":all:",
        "a" * 300,
    ]
)
_LINES = st.tuples(_OPTIONS, st.lists(st.one_of(_TOKENS, st.text(max_size=6)), max_size=8)).map(
    lambda parts: parts[0] + "".join(parts[1])
)


@SETTINGS
@given(st.lists(_LINES, max_size=8))
def test_arbitrary_text_only_ever_raises_input_error(lines: list[str]) -> None:
    text = "\n".join(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requirements.in"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            read_spec([path])
        except InputError as exc:
            assert exc.message and "\n" not in exc.message  # one line for the user


# --------------------------------------------------------------------------- lockfile

via_text = st.one_of(
    st.text(
        # No "[": brackets in an annotation are a parent's extras, drawn below.
        st.characters(whitelist_categories=("L", "N", "P", "Zs"), blacklist_characters="#\\["),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool),
    names,
    names.map(lambda n: f"{n} (build)"),
    names.map(lambda n: f"{n}[extra]"),  # a parent with extras: stripped, as pip-compile does
    names.map(lambda n: f"via{n}"),  # a project named like the annotation (viabtc, ...)
    st.sampled_from(["-r requirements.in", "-c constraints.txt", "via"]),
)
hashes = st.lists(st.from_regex(r"\A[0-9a-f]{64}\Z"), max_size=3, unique=True)


@st.composite
def entries(draw: st.DrawFn) -> list[Entry]:
    chosen = draw(st.lists(names, min_size=0, max_size=8, unique_by=canonicalize_name))
    result = []
    for name in chosen:
        version = draw(versions)
        direct = draw(st.integers(0, 5)) == 0
        line = f"{name} @ https://example.invalid/{name}-{version}.tar.gz" if direct else ""
        pin = Pin(
            canonicalize_name(name), version, Candidate(canonicalize_name(name), Version(version))
        )
        via = tuple(draw(st.lists(via_text, max_size=4, unique=True)))
        result.append(Entry(pin, via, tuple(draw(hashes)), line=line))
    return result


@SETTINGS
@given(
    entries(),
    st.lists(st.sampled_from(["--index-url https://u:secret@h/simple/", "--no-binary :all:"])),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([TextStyle(), TextStyle(annotation_style="line")]),
)
def test_lockfile_round_trip(
    items: list[Entry], options: list[str], newline: str, style: TextStyle
) -> None:
    header = Header(
        command="lockbuild compile",
        python="3.11",
        target="cpython 3.11 linux x86_64",
        inputs=(("requirements.in", "sha256:" + "0" * 64),),
        options=tuple(options),
    )
    target = for_platform("3.11", ("manylinux_2_17_x86_64",))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requirements.txt"
        path.write_bytes(f"#{newline}".encode())  # a rewrite keeps the file's line ending
        locked_model = Locked(header, tuple(items), (), target, style=style)
        files = render_pair(locked_model, path, build_file_for(path))
        text = files[path]
        assert "secret" not in text and text.count("\n") == text.count(newline)
        path.write_bytes(text.encode())
        locked = read_lock(path)
    # pip-compile's order: editables first, then by name; unsafe packages at the end.
    order = sorted(
        items,
        key=lambda e: (e.pin.name in style.unsafe, not e.line.startswith("-e"), e.pin.name),
    )
    assert list(locked.pins) == [e.pin.name for e in order]
    for entry in items:
        pin = locked.pins[entry.pin.name]
        assert pin.version == ("" if entry.line else entry.pin.version)
        assert pin.line == (entry.line or f"{entry.pin.name}=={entry.pin.version}")
        # pip-compile's --strip-extras takes extras out of annotations too.
        assert pin.via == tuple(re.sub(r"\[.+?\]", "", v) for v in entry.via)
        assert pin.hashes == entry.hashes
    assert [o.split()[0] for o in locked.options] == [o.split()[0] for o in options]
