"""The lock model and its two renderings: a ``Locked`` rendered as the text pair or as the
pylock pair reads back into the same model, and every field of every file of either pair
is covered by the digests the other files record (an edit of any one is named)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.errors import InputError
from lockbuild.lock.formats import (
    PYLOCK,
    TEXT,
    build_file_for,
    format_of,
    parse_lock,
    render_pair,
    twin_for,
)
from lockbuild.lock.model import (
    BUILD_TEXT_DIGEST,
    Entry,
    Header,
    Locked,
)
from lockbuild.lock.pair import pair_problems
from lockbuild.model import Candidate, DistFile, FileRecord
from lockbuild.resolve.graph import Pin
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files are named as the user gave them


BASE = "http://127.0.0.1:1/files"
UPLOADED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _pin(name: str, version: str, *, wheel: bool) -> Pin:
    filename = f"{name}-{version}-py3-none-any.whl" if wheel else f"{name}-{version}.tar.gz"
    dist = DistFile(
        filename,
        f"{BASE}/{filename}",
        canonicalize_name(name),
        Version(version),
        wheel,
        frozenset(),
        _sha(name),
        upload_time=UPLOADED,
        size=100,
    )
    candidate = Candidate(canonicalize_name(name), Version(version), dist=dist, builds=not wheel)
    return Pin(canonicalize_name(name), version, candidate)


def _record(pin: Pin) -> FileRecord:
    dist = pin.candidate.dist
    assert dist is not None and dist.sha256 is not None
    return FileRecord(dist.filename, dist.url, dist.sha256, dist.size, UPLOADED, dist.is_wheel)


def _locked(options: tuple[str, ...] = ()) -> Locked:
    abicore, abiext, setuptools = (
        _pin("abicore", "2.0", wheel=True),
        _pin("abiext", "1.0", wheel=False),
        _pin("setuptools", "75.0", wheel=True),
    )
    header = Header(
        command="lockbuild compile -o OUT",
        python="3.11",
        target="cpython 3.11 linux x86_64",
        inputs=(("requirements.in", "sha256:" + "e" * 64), ("options", "sha256:" + "d" * 64)),
        options=options,
        exclude_newer="2024-06-01",
        sdists=(f"abiext==1.0 abiext-1.0.tar.gz sha256:{_sha('abiext')}",),
        unbuildable=("oldthing==0.1: setuptools<40 conflicts with setuptools==75.0 (locked)",),
    )
    lock = (
        Entry(abicore, ("abiext", "-r requirements.in"), hashes=(_sha("abicore"),)),
        Entry(abiext, ("-r requirements.in",), hashes=(_sha("abiext"),)),
    )
    build = (
        Entry(abicore, ("abiext (build)",), hashes=(_sha("abicore"),)),
        Entry(setuptools, ("abiext (build)",), hashes=(_sha("setuptools"),)),
    )
    records = {p.pin.name: _record(p.pin) for p in (*lock, *build)}
    target = for_platform("3.11", ("manylinux_2_17_x86_64",))
    builds = {"abiext==1.0": ("abicore==2.0", "setuptools==75.0")}
    return Locked(header, lock, build, target, records, builds)


def _pair(tmp_path: Path, lock_name: str, **kwargs: Any) -> dict[Path, str]:
    lock = tmp_path / lock_name
    return render_pair(_locked(**kwargs), lock, build_file_for(lock))


FORMATS = ["requirements.txt", "pylock.toml"]


def _problems(files: dict[Path, str], lock: Path) -> list[str]:
    read = {path: parse_lock(text, path) for path, text in files.items()}
    twin = twin_for(lock)
    return pair_problems(read[lock], read[build_file_for(lock)], read[twin] if twin else None)


@pytest.mark.parametrize(
    ("name", "build", "twin", "fmt"),
    [
        ("requirements.txt", "requirements-build.txt", None, TEXT),
        ("dev.txt", "dev-build.txt", None, TEXT),
        ("pylock.toml", "pylock.build.toml", "pylock.build.txt", PYLOCK),
        ("pylock.dev.toml", "pylock.dev.build.toml", "pylock.dev.build.txt", PYLOCK),
        ("pylock.a.b.toml", "pylock.a.b-build.toml", None, TEXT),
    ],
)
def test_one_place_names_the_files_of_a_pair(
    name: str, build: str, twin: str | None, fmt: object
) -> None:
    assert format_of(Path(name)) is fmt
    assert build_file_for(Path(name)) == Path(build)
    assert twin_for(Path(name)) == (Path(twin) if twin else None)


@pytest.mark.parametrize("lock_name", FORMATS)
def test_both_renderings_read_back_into_the_same_model(tmp_path: Path, lock_name: str) -> None:
    files = _pair(tmp_path, lock_name, options=("--index-url http://127.0.0.1:1/simple",))
    lock_path = tmp_path / lock_name
    lock = parse_lock(files[lock_path], lock_path)
    build = parse_lock(files[build_file_for(lock_path)], build_file_for(lock_path))
    assert lock.command == build.command == "lockbuild compile -o OUT"
    assert lock.options == ["--index-url http://127.0.0.1:1/simple"]
    assert {n: (p.version, p.via, p.hashes) for n, p in lock.pins.items()} == {
        "abicore": ("2.0", ("abiext", "-r requirements.in"), (_sha("abicore"),)),
        "abiext": ("1.0", ("-r requirements.in",), (_sha("abiext"),)),
    }
    assert {n: (p.version, p.via) for n, p in build.pins.items()} == {
        "abicore": ("2.0", ("abiext (build)",)),
        "setuptools": ("75.0", ("abiext (build)",)),
    }
    for locked in (lock, build):
        assert locked.first("lockbuild-target") == "cpython 3.11 linux x86_64"
        assert locked.first("lockbuild-exclude-newer") == "2024-06-01"
        assert locked.meta["lockbuild-inputs"] == [
            "requirements.in sha256:" + "e" * 64,
            "options sha256:" + "d" * 64,
        ]
        assert locked.meta["lockbuild-sdist"] == [
            f"abiext==1.0 abiext-1.0.tar.gz sha256:{_sha('abiext')}"
        ]
    assert build.meta["lockbuild-not-buildable"] == [
        "oldthing==0.1: setuptools<40 conflicts with setuptools==75.0 (locked)"
    ]
    assert _problems(files, lock_path) == []


@pytest.mark.parametrize("lock_name", FORMATS)
def test_a_rendering_is_stable(tmp_path: Path, lock_name: str) -> None:
    assert _pair(tmp_path, lock_name) == _pair(tmp_path, lock_name)


def _edit_line(text: str, number: int) -> str:
    lines = text.splitlines(keepends=True)
    body = lines[number - 1].rstrip("\r\n")
    lines[number - 1] = body + "X" + lines[number - 1][len(body) :]
    return "".join(lines)


@pytest.mark.parametrize(
    ("lock_name", "which"),
    [
        ("requirements.txt", "lock"),
        ("requirements.txt", "build"),
        ("pylock.toml", "lock"),
        ("pylock.toml", "build"),
        ("pylock.toml", "twin"),
    ],
)
def test_every_field_of_every_file_is_covered(tmp_path: Path, lock_name: str, which: str) -> None:
    """Each field the reader gives back, edited alone, is named by the pair check."""
    lock = tmp_path / lock_name
    path = {"lock": lock, "build": build_file_for(lock), "twin": twin_for(lock)}[which]
    assert path is not None
    files = _pair(tmp_path, lock_name)
    fields = parse_lock(files[path], path).content
    assert len(fields) > 10
    for item in fields:
        edited = dict(files)
        if item.where:  # a text line
            edited[path] = _edit_line(files[path], int(item.where.removeprefix("line ")))
            expected = f"{path.name} {item.where} was edited after compile"
        else:
            edited[path] = _edit_toml(files[path], item.place)
            expected = f"{path.name}: {item.place} = "
        try:
            problems = _problems(edited, lock)
        except InputError as exc:  # no longer valid PEP 751 (lock-version): refused too
            assert exc.message.startswith(f"{path}: not a valid PEP 751 lock file"), item
            continue
        assert problems, item
        assert expected in problems[0], (item, problems)


def _edit_toml(text: str, place: str) -> str:
    """The TOML text with the value at ``place`` (``a.b[name].c`` or ``a[2].c``) changed."""
    doc = tomlkit.parse(text)
    node: Any = doc
    parts = re.findall(r'"[^"]*"|[^.\[\]]+|\[[^\]]+\]', place)
    for part in parts[:-1]:
        if part.startswith("["):
            key = part[1:-1]
            items = list(node)
            node = next((t for t in items if t.get("name") == key), None) or items[int(key) - 1]
        else:
            node = node[part.strip('"')]
    last = parts[-1].strip('"')
    value = node[last]
    if isinstance(value, bool):
        node[last] = not value
    elif isinstance(value, int):
        node[last] = value + 1
    elif isinstance(value, str):
        node[last] = value + "X"
    elif isinstance(value, datetime):
        node[last] = value.replace(year=value.year - 1)
    elif isinstance(value, list):
        value.append("X")
    else:  # an inline table (hashes)
        value["sha512"] = "0" * 128
    return tomlkit.dumps(doc)


def _pylock_edit(key: str, change: Callable[[Any], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        doc = tomlkit.parse(text)
        change(doc)
        return tomlkit.dumps(doc)

    return edit


def _package(doc: Any, name: str) -> Any:
    return next(p for p in doc["packages"] if p["name"] == name)


def _foreign_wheel(doc: Any) -> None:
    package = _package(doc, "abiext")
    del package["sdist"]
    wheel = tomlkit.table()
    wheel.add("name", "abiext-1.0-py3-none-any.whl")
    wheel.add("url", "http://elsewhere.example/abiext-1.0-py3-none-any.whl")
    wheel.add("hashes", {"sha256": "f" * 64})
    wheels = tomlkit.aot()
    wheels.append(wheel)
    package.add("wheels", wheels)


# (file, edit, what the one line names): the edits an adversarial pass got past check.
EDITS: list[tuple[str, str, Callable[[str], str], str]] = [
    (
        "pylock.toml",
        "pylock.toml",
        lambda t: t.replace(BASE, "http://elsewhere.example/files", 1),
        "pylock.toml: packages[abicore].wheels[1].url = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        lambda t: t.replace(_sha("abicore"), "0" * 64, 1),
        "pylock.toml: packages[abicore].wheels[1].hashes.sha256 = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _pylock_edit("env", lambda d: d.__setitem__("environments", ['sys_platform == "win32"'])),
        "pylock.toml: environments = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _pylock_edit("rp", lambda d: d.__setitem__("requires-python", ">=3")),
        "pylock.toml: requires-python = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _pylock_edit("m", lambda d: _package(d, "abicore").add("marker", 'os_name == "nt"')),
        "pylock.toml: packages[abicore].marker = ",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _pylock_edit("w", _foreign_wheel),
        "pylock.toml: 5 field(s) removed after compile (before packages[abiext].",
    ),
    (
        "pylock.toml",
        "pylock.toml",
        _pylock_edit("c", lambda d: d["tool"]["lockbuild"].__setitem__("command", "evil")),
        "pylock.toml: tool.lockbuild.command = ",
    ),
    (
        "pylock.toml",
        "pylock.build.toml",
        _pylock_edit("c", lambda d: d["tool"]["lockbuild"].__setitem__("command", "evil")),
        "pylock.build.toml: tool.lockbuild.command = ",
    ),
    (
        "pylock.toml",
        "pylock.build.toml",
        _pylock_edit("t", lambda d: d["tool"]["lockbuild"].__setitem__("target", "musl")),
        "pylock.build.toml: tool.lockbuild.target = ",
    ),
    (
        "pylock.toml",
        "pylock.build.txt",
        lambda t: t.replace("setuptools==75.0", "setuptools==75.1"),
        "pylock.build.txt line ",
    ),
    (
        "pylock.toml",
        "pylock.build.txt",
        lambda t: t + "evil==1.0\n",
        "pylock.build.txt line ",
    ),
    (
        "requirements.txt",
        "requirements.txt",
        lambda t: t.replace("abicore==2.0", "abicore==2.1"),
        "requirements.txt line ",
    ),
    (
        "requirements.txt",
        "requirements-build.txt",
        lambda t: t + "evil==1.0\n",
        "requirements-build.txt line ",
    ),
    (
        "requirements.txt",
        "requirements-build.txt",
        lambda t: t.replace("# via abiext (build)", "# via -r requirements.in", 1),
        "requirements-build.txt line ",
    ),
]


@pytest.mark.parametrize(("lock_name", "edited", "edit", "named"), EDITS)
def test_an_edit_is_named(
    tmp_path: Path,
    lock_name: str,
    edited: str,
    edit: Callable[[str], str],
    named: str,
) -> None:
    files = _pair(tmp_path, lock_name)
    path = tmp_path / edited
    changed = edit(files[path])
    assert changed != files[path]
    problems = _problems({**files, path: changed}, tmp_path / lock_name)
    assert problems and problems[0].startswith(named), problems


@pytest.mark.parametrize("lock_name", FORMATS)
def test_files_of_two_compiles_are_not_one_pair(tmp_path: Path, lock_name: str) -> None:
    lock = tmp_path / lock_name
    one = _pair(tmp_path, lock_name)
    other = render_pair(
        Locked(
            Header("lockbuild compile other", "3.11", "cpython 3.11 linux x86_64", (), ()),
            (),
            (),
            for_platform("3.11", ("manylinux_2_17_x86_64",)),
        ),
        lock,
        build_file_for(lock),
    )
    problems = _problems({**one, build_file_for(lock): other[build_file_for(lock)]}, lock)
    assert problems == [f"{lock.name} and {build_file_for(lock).name} were not compiled together"]


def test_a_lock_whose_text_build_file_was_not_read(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    files = _pair(tmp_path, "pylock.toml")
    read = {path: parse_lock(text, path) for path, text in files.items()}
    assert read[lock].first(BUILD_TEXT_DIGEST)
    assert pair_problems(read[lock], read[build_file_for(lock)]) == [
        "pylock.toml has a text build file that was not read"
    ]


@pytest.mark.parametrize("lock_name", FORMATS)
def test_no_secret_in_any_file_of_the_pair(tmp_path: Path, lock_name: str) -> None:
    secret = "s3cr3t-token-4711"
    locked = _locked(options=(f"--index-url http://user:{secret}@127.0.0.1:1/simple",))
    records = {
        name: FileRecord(
            r.filename,
            r.url.replace("http://", f"http://u:{secret}@"),
            r.sha256,
            r.size,
            None,
            r.is_wheel,
        )
        for name, r in locked.records.items()
    }
    lock = tmp_path / lock_name
    files = render_pair(
        Locked(locked.header, locked.lock_entries, locked.build_entries, locked.target, records),
        lock,
        build_file_for(lock),
    )
    assert all(secret not in text for text in files.values())
    assert any("user:****@127.0.0.1:1" in text for text in files.values())
    assert _problems(files, lock) == []
