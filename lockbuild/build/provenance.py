"""Build provenance: what a wheel lockbuild built from an sdist was built against, and
where in the wheelhouse such a wheel is kept (sync's builds and compile's metadata builds
both put wheels there, so that sync reuses what compile built).

The record is a small JSON file, ``lockbuild-build.json``, inside the wheel's
``.dist-info`` directory and listed in its ``RECORD``, so that it is installed with the
distribution and removed when it is uninstalled. It holds every ``name==version`` read
back from the build environment, one digest of that set, and the sdist's sha256.

Beside each wheel in the wheelhouse, ``<wheel>.sha256`` holds the sha256 of the file as it
was written; a wheel is used from the wheelhouse only when it still has that digest and
every file in it matches its own RECORD (``verify_wheel``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lockbuild.atomic import replacing
from lockbuild.build.probe import markers_of
from lockbuild.errors import BuildError
from lockbuild.model import normalized_pins, pins_digest

RECORD_NAME = "lockbuild-build.json"
FORMAT = 1


def env_digest(pins: Iterable[str]) -> str:
    """The digest of a build environment given as ``name==version`` strings."""
    pairs = []
    for pin in pins:
        name, _, version = pin.partition("==")
        pairs.append((name, version))
    return pins_digest(pairs)


@dataclass(frozen=True)
class BuildRecord:
    """What one wheel was built from and against."""

    name: str
    version: str
    sdist: str  # the sdist's file name
    sdist_sha256: str
    environment: tuple[str, ...]  # name==version, sorted, read back from the build env
    python: str = ""

    @property
    def digest(self) -> str:
        return env_digest(self.environment)

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "built-by": "lockbuild",
            "name": self.name,
            "version": self.version,
            "sdist": {"filename": self.sdist, "sha256": self.sdist_sha256},
            "python": self.python,
            "build-environment": list(self.environment),
            "build-environment-digest": self.digest,
        }
        return json.dumps(data, indent=2) + "\n"

    def against(self) -> str:
        """``a==1 b==2`` for summaries."""
        return " ".join(self.environment) or "an empty build environment"


def parse_record(text: str | None) -> BuildRecord | None:
    """A record read back from an installed distribution; None when absent or not one
    lockbuild wrote (a damaged record counts as no record: the dist is rebuilt)."""
    if not text:
        return None
    try:
        data: Any = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        env = data["build-environment"]
        sdist = data["sdist"]
        if not isinstance(env, list) or not all(isinstance(p, str) and "==" in p for p in env):
            return None
        record = BuildRecord(
            name=str(data["name"]),
            version=str(data["version"]),
            sdist=str(sdist["filename"]),
            sdist_sha256=str(sdist["sha256"]),
            environment=tuple(sorted(env)),
            python=str(data.get("python", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if data.get("build-environment-digest") != record.digest:
        return None
    # Every field takes part: one changed, added or dropped (built-by, python, ...) makes
    # it a record lockbuild did not write.
    if data != json.loads(record.to_json()):
        return None
    return record


def difference(built: Iterable[str], wanted: Iterable[str]) -> str:
    """Why a record's build environment is not the one the lock prescribes, in words:
    ``built against numpy 1.26.4; the lock builds it against numpy 2.4.6``."""
    have = dict(p.partition("==")[::2] for p in built)
    want = dict(p.partition("==")[::2] for p in wanted)
    names = sorted(n for n in set(have) | set(want) if have.get(n) != want.get(n))
    old = ", ".join(f"{n} {have[n]}" for n in names if n in have) or "nothing of those"
    new = ", ".join(f"{n} {want[n]}" for n in names if n in want)
    if not new:
        return f"built against {old}, which the lock does not put into its build environment"
    return f"built against {old}; the lock builds it against {new}"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def add_record(wheel: Path, record: BuildRecord, dest: Path) -> Path:
    """Copy ``wheel`` to the directory ``dest`` with the record added to its .dist-info
    and to its RECORD; the copy is written under a temporary name, then renamed."""
    try:
        with zipfile.ZipFile(wheel) as source:
            names = source.namelist()
            records = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
            if len(records) != 1:
                raise BuildError(f"{wheel.name}: the wheel has no single .dist-info/RECORD")
            record_name = records[0]
            info_dir = record_name.rsplit("/", 1)[0]
            ours = f"{info_dir}/{RECORD_NAME}"
            body = record.to_json().encode("utf-8")
            final = dest / wheel.name
            with replacing(final) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
                for info in source.infolist():
                    if info.filename in (record_name, ours):
                        continue
                    out.writestr(info, source.read(info))
                out.writestr(ours, body)
                lines = [
                    line
                    for line in source.read(record_name).decode("utf-8").splitlines()
                    if line and not line.startswith(f"{ours},")
                ]
                at = next(
                    (i for i, line in enumerate(lines) if line.startswith(f"{record_name},")),
                    len(lines),
                )
                lines.insert(at, f"{ours},{_record_hash(body)},{len(body)}")
                out.writestr(record_name, "\n".join(lines) + "\n")
        write_digest(final)
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{wheel.name}: cannot add the build record: {exc}") from None
    return final


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest_path(wheel: Path) -> Path:
    return wheel.with_name(wheel.name + ".sha256")


def write_digest(wheel: Path) -> str:
    """Record the sha256 of ``wheel`` as written, beside it; that digest."""
    sha = file_sha256(wheel)
    with replacing(digest_path(wheel)) as tmp:
        tmp.write_text(sha + "\n", encoding="ascii")
    return sha


def verify_wheel(wheel: Path, *, recorded: bool = True) -> tuple[str, str]:
    """``(sha256, problem)`` of a wheel about to be used from the wheelhouse: the problem
    ("" when none) says how the file differs from the sha256 recorded when it was written
    (``recorded``: a wheel lockbuild wrote there) or from its own RECORD."""
    try:
        sha = file_sha256(wheel)
    except OSError as exc:
        return "", f"cannot be read ({exc.strerror or exc})"
    if recorded:
        try:
            want = digest_path(wheel).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return sha, "has no recorded sha256"
        if want != sha:
            return sha, f"has sha256 {sha[:12]}…, not the {want[:12]}… recorded when it was built"
    return sha, record_problem(wheel)


def _hash_matches(entry: str, data: bytes) -> bool:
    """Whether a RECORD hash (``algorithm=urlsafe-base64``, as PEP 376 writes it) is the
    one of ``data``; an unknown or weak algorithm never matches."""
    algorithm, _, value = entry.partition("=")
    if algorithm not in ("sha256", "sha384", "sha512", "blake2b", "blake2s"):
        return False
    digest = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=")
    return digest.decode("ascii") == value.rstrip("=")


def record_problem(wheel: Path) -> str:
    """How the files of a wheel differ from its ``.dist-info/RECORD`` ("" when they agree):
    every file listed with its sha256 and size, none unlisted (RECORD itself and its
    signatures apart)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            records = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
            if len(records) != 1:
                return "has no single .dist-info/RECORD"
            text = archive.read(records[0]).decode("utf-8")
            listed: dict[str, tuple[str, str]] = {}
            for row in csv.reader(io.StringIO(text)):
                if row:
                    listed[row[0]] = (
                        row[1] if len(row) > 1 else "",
                        row[2] if len(row) > 2 else "",
                    )
            info_dir = records[0].rsplit("/", 1)[0]
            unsigned = {records[0], f"{info_dir}/RECORD.jws", f"{info_dir}/RECORD.p7s"}
            for name in names:
                if name in unsigned:
                    continue
                if name not in listed:
                    return f"holds {name}, which its RECORD does not list"
                hash_, size = listed.pop(name)
                data = archive.read(name)
                if not _hash_matches(hash_, data) or (size and size != str(len(data))):
                    return f"holds {name}, which differs from its RECORD"
            missing = [n for n in listed if n not in unsigned]
            if missing:
                return f"lacks {missing[0]}, which its RECORD lists"
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        return f"is not a readable wheel ({exc})"
    return ""


def read_wheel_record(wheel: Path) -> BuildRecord | None:
    """The record inside a wheel file (None when it has none)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.count("/") == 1 and name.endswith(f".dist-info/{RECORD_NAME}"):
                    return parse_record(archive.read(name).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError):
        return None
    return None


def expected_environment(pins: Mapping[str, str]) -> tuple[str, ...]:
    return normalized_pins(pins.items())


def python_key(markers: Mapping[str, str]) -> str:
    """The kind of interpreter a wheel was built on (implementation, version, platform,
    machine), from its marker values: part of where the wheel is kept."""
    parts = (
        markers.get("implementation_name", "python"),
        markers.get("python_version", "?"),
        markers.get("sys_platform", "?"),
        markers.get("platform_machine", "?"),
    )
    return "-".join(p.replace("/", "_") for p in parts)


def slot_path(wheelhouse: Path, sdist_sha256: str | None, python: str, digest: str) -> Path:
    """Where the wheels of one sdist built against one environment on one kind of
    interpreter are kept."""
    sha = sdist_sha256 or "unknown"
    return wheelhouse / sha / python / digest.removeprefix("sha256:")[:32]


def interpreter_key(python: str) -> str | None:
    """The key of an interpreter (where compile's hook built a wheel), asked of it."""
    markers = markers_of(python)
    return None if markers is None else python_key(markers)


def keep_metadata_wheel(
    wheelhouse: Path,
    sdist: str,
    sdist_sha256: str,
    wheel: Path,
    pins: Iterable[str],
    python: str,
) -> Path | None:
    """Put a wheel that compile built to read an sdist's metadata (a backend without
    prepare_metadata_for_build_wheel) into the wheelhouse with its record, so that sync
    reuses it when the lock prescribes the same build environment. ``pins`` is what was
    read back from the hook's environment, ``python`` its interpreter. None when the wheel
    is not one of ``sdist``, or the interpreter cannot say what it is."""
    try:
        name, version, _, _ = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        return None
    environment = normalized_pins((p.partition("==")[0], p.partition("==")[2]) for p in pins)
    key = interpreter_key(python)
    if key is None:
        return None
    record = BuildRecord(
        name=name,
        version=str(version),
        sdist=sdist,
        sdist_sha256=sdist_sha256,
        environment=environment,
        python=key,
    )
    try:
        return add_record(wheel, record, slot_path(wheelhouse, sdist_sha256, key, record.digest))
    except (BuildError, OSError):
        return None  # the cache is an optimisation: sync builds it again
