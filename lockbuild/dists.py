"""Reading distributions: wheel METADATA, sdist PKG-INFO and pyproject.toml (streamed from
the archive in memory), and PEP 517 hooks run in isolated environments."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import tomllib
import venv
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from . import limits, programs
from .errors import BuildError, DistError, InvalidMetadataError, UsageError
from .hookfail import HookFailed, LogKeeper, last_line
from .hookproc import HookTimeout, kill_group, run_bounded

LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0",)
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
MAX_MEMBER_BYTES = 16 * 1024 * 1024
MAX_MEMBERS = 100_000
_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
)


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of core metadata that resolution needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...]
    requires_python: SpecifierSet | None
    dynamic: frozenset[str]
    metadata_version: str
    provides_extra: tuple[str, ...] = ()


def parse_metadata(data: bytes, where: str) -> CoreMetadata:
    """Parse METADATA / PKG-INFO bytes; ``where`` names the file in errors."""
    raw, _unparsed = parse_email(data)
    try:
        name = canonicalize_name(str(raw["name"]))
        version = Version(str(raw["version"]))
    except KeyError as exc:
        raise InvalidMetadataError(f"{where}: metadata has no {exc.args[0]} field") from None
    except InvalidVersion:
        raise InvalidMetadataError(
            f"{where}: metadata has an invalid version {raw['version']!r}"
        ) from None
    requires_python = None
    if raw.get("requires_python"):
        try:
            requires_python = SpecifierSet(str(raw["requires_python"]))
        except InvalidSpecifier:
            raise InvalidMetadataError(
                f"{where}: metadata has an invalid Requires-Python {raw['requires_python']!r}"
            ) from None
    requires_dist = tuple(str(text) for text in raw.get("requires_dist", []))
    for text in requires_dist:
        try:
            Requirement(text)
        except InvalidRequirement:
            raise InvalidMetadataError(
                f"{where}: metadata has an invalid Requires-Dist {text[:200]!r}"
            ) from None
    return CoreMetadata(
        name=name,
        version=version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        dynamic=frozenset(d.lower() for d in raw.get("dynamic", [])),
        metadata_version=str(raw.get("metadata_version", "1.0")),
        provides_extra=tuple(raw.get("provides_extra", [])),
    )


def wheel_metadata(data: bytes | BinaryIO | io.RawIOBase, filename: str) -> bytes:
    """The METADATA file of a wheel held in memory (or readable through ``data``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
            candidates = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(candidates) != 1:
                raise DistError(f"{filename}: wheel has no single .dist-info/METADATA")
            info = archive.getinfo(candidates[0])
            if info.file_size > MAX_MEMBER_BYTES:
                raise DistError(f"{filename}: METADATA is implausibly large")
            return archive.read(info)
    except zipfile.BadZipFile:
        raise DistError(f"{filename}: not a valid wheel (bad zip file)") from None


@dataclass(frozen=True)
class BuildSystem:
    """What ``[build-system]`` says (or pip's legacy default when there is none)."""

    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...]
    has_pyproject: bool


@dataclass(frozen=True)
class SdistContents:
    """The two files of an sdist that locking needs, read without extracting it."""

    pkg_info: bytes | None
    pyproject: bytes | None


def _check_member_name(name: str, filename: str) -> None:
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise DistError(f"{filename}: archive member has an absolute path: {name}")
    if ".." in name.replace("\\", "/").split("/"):
        raise DistError(f"{filename}: archive member escapes the archive: {name}")


def _check_link(member: tarfile.TarInfo, filename: str) -> None:
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(member.name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved.startswith(".."):
            raise DistError(
                f"{filename}: archive link points outside the archive: {member.name} -> {target}"
            )
    elif not (member.isfile() or member.isdir()):
        raise DistError(f"{filename}: archive holds a special file: {member.name}")


def _wanted(name: str) -> str | None:
    """'PKG-INFO' or 'pyproject.toml' when ``name`` is that file at the sdist's top level."""
    parts = name.strip("/").split("/")
    if len(parts) == 2 and parts[1] in ("PKG-INFO", "pyproject.toml"):
        return parts[1]
    return None


def read_sdist(data: bytes, filename: str) -> SdistContents:
    """PKG-INFO and pyproject.toml of an sdist, streamed from memory; the archive is
    checked for unsafe members and for decompression bombs as it is read."""
    found: dict[str, bytes] = {}
    if filename.endswith(".zip"):
        for name, content in _iter_zip(data, filename):
            found.setdefault(name, content)
    else:
        for name, content in _iter_tar(data, filename):
            found.setdefault(name, content)
    return SdistContents(found.get("PKG-INFO"), found.get("pyproject.toml"))


class _BoundedStream(io.RawIOBase):
    """The decompressed bytes of an archive, read forward, that refuses to produce more
    than ``limit`` bytes in all: the cap is on bytes decompressed, so it also bounds what
    tarfile reads for itself (pax and long-name headers) and what it skips over."""

    def __init__(
        self, open_source: Callable[[], io.BufferedIOBase], limit: int, filename: str
    ) -> None:
        super().__init__()
        self._open_source = open_source
        self._source = open_source()
        self._limit = limit
        self._filename = filename
        self._pos = 0
        self._produced = 0  # every byte decompressed, counting re-reads after a rewind

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _take(self, size: int) -> bytes:
        if self._produced + size > self._limit:
            raise DistError(f"{self._filename}: archive unpacks to more than {self._limit} bytes")
        if size > MAX_MEMBER_BYTES:
            raise DistError(f"{self._filename}: archive holds a {size}-byte record")
        data = self._source.read(size)
        self._produced += len(data)
        self._pos += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()  # chunk by chunk, so still bounded
        return self._take(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek from the end of a compressed stream")
        if offset < self._pos:
            self._source = self._open_source()
            self._pos = 0
        while self._pos < offset:
            if not self._take(min(offset - self._pos, 1024 * 1024)):
                break
        return self._pos


def _decompressed(data: bytes, filename: str) -> _BoundedStream:
    """A bounded stream of the tar inside a gzip, bzip2 or xz file (or a bare tar)."""
    opener: Callable[[], io.BufferedIOBase]
    if data.startswith(b"\x1f\x8b"):
        opener = lambda: gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")  # noqa: E731
    elif data.startswith(b"BZh"):
        opener = lambda: bz2.BZ2File(io.BytesIO(data))  # noqa: E731
    elif data.startswith(b"\xfd7zXZ\x00"):
        opener = lambda: lzma.LZMAFile(io.BytesIO(data))  # noqa: E731
    else:
        opener = lambda: io.BytesIO(data)  # noqa: E731
    return _BoundedStream(opener, limits.max_unpacked_bytes(), filename)


def _iter_tar(data: bytes, filename: str) -> Iterator[tuple[str, bytes]]:
    total = 0
    limit = limits.max_unpacked_bytes()
    try:
        with tarfile.open(fileobj=_decompressed(data, filename), mode="r:") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_MEMBERS:
                    raise DistError(f"{filename}: archive has more than {MAX_MEMBERS} members")
                _check_member_name(member.name, filename)
                _check_link(member, filename)
                total += member.size
                if total > limit:
                    raise DistError(f"{filename}: archive unpacks to more than {limit} bytes")
                wanted = _wanted(member.name)
                if wanted and member.isfile():
                    if member.size > MAX_MEMBER_BYTES:
                        raise DistError(f"{filename}: {member.name} is implausibly large")
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield wanted, handle.read()
    except _ARCHIVE_ERRORS as exc:
        raise DistError(f"{filename}: not a valid sdist archive ({exc})") from None


def _iter_zip(data: bytes, filename: str) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise DistError(f"{filename}: archive has more than {MAX_MEMBERS} members")
            total = 0
            limit = limits.max_unpacked_bytes()
            for info in infos:
                _check_member_name(info.filename, filename)
                total += info.file_size
                if total > limit:
                    raise DistError(f"{filename}: archive unpacks to more than {limit} bytes")
                if stat.S_ISLNK(info.external_attr >> 16):
                    with archive.open(info) as handle:
                        target = handle.read(4097).decode("utf-8", errors="replace")
                    link = tarfile.TarInfo(info.filename)
                    link.type, link.linkname = tarfile.SYMTYPE, target
                    _check_link(link, filename)
            for info in infos:
                wanted = _wanted(info.filename)
                if wanted:
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise DistError(f"{filename}: {info.filename} is implausibly large")
                    with archive.open(info) as handle:
                        content = handle.read(MAX_MEMBER_BYTES + 1)
                    if len(content) > MAX_MEMBER_BYTES:
                        raise DistError(f"{filename}: {info.filename} is implausibly large")
                    yield wanted, content
    except _ARCHIVE_ERRORS as exc:
        raise DistError(f"{filename}: not a valid sdist archive ({exc})") from None


def build_system(pyproject: bytes | None, where: str) -> BuildSystem:
    """The build system an sdist or project declares, validated; pip's default without one."""
    if pyproject is None:
        return BuildSystem(LEGACY_BUILD_REQUIRES, LEGACY_BACKEND, (), False)
    try:
        data = tomllib.loads(pyproject.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DistError(f"{where}: pyproject.toml is not valid TOML: {exc}") from None
    table = data.get("build-system")
    if table is None:
        return BuildSystem(LEGACY_BUILD_REQUIRES, LEGACY_BACKEND, (), True)
    if not isinstance(table, dict):
        raise DistError(f"{where}: pyproject.toml: [build-system] is not a table")
    if "requires" not in table:
        # pip treats a missing 'requires' as an error when [build-system] exists.
        raise DistError(f"{where}: pyproject.toml: [build-system] has no 'requires' key")
    requires = table["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise DistError(f"{where}: pyproject.toml: build-system.requires is not a list of strings")
    for text in requires:
        try:
            Requirement(text)
        except InvalidRequirement:
            raise DistError(
                f"{where}: pyproject.toml: invalid build requirement {text!r}"
            ) from None
    backend = table.get("build-backend", LEGACY_BACKEND)
    backend_path = table.get("backend-path", [])
    if not isinstance(backend, str) or not isinstance(backend_path, list):
        raise DistError(f"{where}: pyproject.toml: invalid build-backend or backend-path")
    for entry in backend_path:
        if not isinstance(entry, str) or os.path.isabs(entry) or ".." in Path(entry).parts:
            raise DistError(
                f"{where}: pyproject.toml: backend-path entry {entry!r} is outside the source tree"
            )
    return BuildSystem(tuple(requires), backend, tuple(str(p) for p in backend_path), True)


def _check_project_types(project: dict[str, Any], where: str) -> None:
    """The [project] keys metadata is read from must have the types PEP 621 gives them
    (a string where a list belongs would otherwise be read character by character)."""

    def strings(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    for key in ("dependencies", "dynamic"):
        if key in project and not strings(project[key]):
            raise DistError(f"{where}: [project] {key} is not a list of strings")
    for key in ("name", "version", "requires-python"):
        if key in project and not isinstance(project[key], str):
            raise DistError(f"{where}: [project] {key} is not a string")
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise DistError(f"{where}: [project.optional-dependencies] is not a table")
    for extra, items in optional.items():
        if not strings(items):
            raise DistError(
                f"{where}: [project.optional-dependencies] {extra} is not a list of strings"
            )


def static_project_metadata(pyproject: bytes | None, where: str) -> CoreMetadata | None:
    """Metadata straight from a ``[project]`` table when name, version and dependencies
    are all static (PEP 621); None when the build backend must be asked."""
    if pyproject is None:
        return None
    try:
        data = tomllib.loads(pyproject.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DistError(f"{where}: not valid TOML: {exc}") from None
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    _check_project_types(project, where)
    dynamic = {str(d) for d in project.get("dynamic", [])}
    if dynamic & {"version", "dependencies", "optional-dependencies", "requires-python"}:
        return None
    try:
        name = canonicalize_name(str(project["name"]))
        version = Version(str(project["version"]))
    except (KeyError, InvalidVersion):
        return None
    requires = [str(r) for r in project.get("dependencies", [])]
    optional = project.get("optional-dependencies", {})
    for extra, items in optional.items():
        for text in items:
            try:
                req = Requirement(str(text))
            except InvalidRequirement:
                raise DistError(
                    f"{where}: invalid requirement {text!r} in extra {extra!r}"
                ) from None
            marker = f'extra == "{canonicalize_name(extra)}"'
            combined = f"({req.marker}) and {marker}" if req.marker else marker
            req.marker = None
            requires.append(f"{req}; {combined}")
    for text in requires:
        try:
            Requirement(text)
        except InvalidRequirement:
            raise DistError(f"{where}: invalid requirement {text!r}") from None
    spec = project.get("requires-python")
    try:
        requires_python = SpecifierSet(str(spec)) if spec else None
    except InvalidSpecifier:
        raise DistError(f"{where}: invalid requires-python {spec!r}") from None
    return CoreMetadata(
        name=name,
        version=version,
        requires_dist=tuple(requires),
        requires_python=requires_python,
        dynamic=frozenset(),
        metadata_version="2.4",
        provides_extra=tuple(canonicalize_name(e) for e in optional),
    )


def usable_pkg_info(pkg_info: bytes | None, where: str) -> CoreMetadata | None:
    """PKG-INFO as resolution metadata when it is reliable: Metadata-Version 2.2 or later
    and Requires-Dist not dynamic (PEP 643)."""
    if pkg_info is None:
        return None
    meta = parse_metadata(pkg_info, where)
    try:
        new_enough = Version(meta.metadata_version) >= Version("2.2")
    except InvalidVersion:
        return None
    if not new_enough or "requires-dist" in meta.dynamic:
        return None
    return meta


def extract_archive(data: bytes, filename: str, dest: Path) -> Path:
    """Unpack an sdist safely into ``dest``; returns the project directory inside it."""
    read_sdist(data, filename)  # validates every member first
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(dest)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            archive.extractall(dest, filter="data")
    entries = [p for p in dest.iterdir() if p.is_dir()]
    if len(entries) == 1 and not (dest / "pyproject.toml").exists():
        return entries[0]
    return dest


class IsolatedEnvironment:
    """A fresh virtual environment holding exactly the requirements given, never the
    user's environment; removed when the context ends. ``pip_env`` carries the index
    options as PIP_* variables (never on a command line, where a token would show)."""

    def __init__(
        self,
        pip_env: Mapping[str, str],
        *,
        base_python: str | None = None,
        logs: LogKeeper | None = None,
    ) -> None:
        self.pip_env = dict(pip_env)
        self.base_python = base_python
        self.logs = logs if logs is not None else LogKeeper()
        self._pins: tuple[str, ...] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.python = ""
        self._servers: dict[str, HookServer | None] = {}
        self._servers_lock = threading.Lock()

    def __enter__(self) -> IsolatedEnvironment:
        self._tmp = tempfile.TemporaryDirectory(prefix="lockbuild-env-")
        root = Path(self._tmp.name)
        if self.base_python is None:
            venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
        else:
            # The target's own interpreter (--python): hooks then answer for it.
            proc = subprocess.run(
                [self.base_python, "-m", "venv", "--without-pip", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                self._tmp.cleanup()
                raise BuildError(
                    f"{self.base_python}: cannot make a virtual environment: "
                    f"{last_line(proc.stderr or proc.stdout)}"
                )
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.python = str(root / bindir / ("python.exe" if os.name == "nt" else "python"))
        self.bindir = str(root / bindir)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._servers_lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            if server is not None:
                server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def hook_server(self, backend: str) -> HookServer | None:
        """The fork server for ``backend`` here (started on first use); None where fork
        is not available or the backend does not import."""
        if not hasattr(os, "fork") or sys.platform == "darwin":
            return None
        with self._servers_lock:
            if backend not in self._servers:
                server = HookServer(self, backend)
                self._servers[backend] = server if server.ready() else None
            return self._servers[backend]

    def install(
        self,
        requirements: Sequence[str],
        what: str,
        *,
        constraints: Sequence[str] = (),
        no_deps: bool = False,
        uploaded_before: datetime | None = None,
    ) -> None:
        """Install ``requirements``; ``constraints`` bind them and also any build
        environment the installer makes on the way (for build requirements that are
        themselves sdists); ``uploaded_before`` admits only files uploaded by then."""
        if not requirements:
            return
        with tempfile.TemporaryDirectory(prefix="lockbuild-req-") as tmp:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text("\n".join(requirements) + "\n")
            constraint_file = Path(tmp) / "build-constraints.txt"
            constraint_file.write_text("\n".join(constraints) + "\n")
            uv = uv_binary()
            if uv is not None:
                cmd, env = self._uv_command(uv, no_deps, constraints, constraint_file)
                if uploaded_before is not None:
                    cmd += ["--exclude-newer", _rfc3339(uploaded_before)]
            else:
                cmd, env = self._pip_command(no_deps, constraints, constraint_file)
                if uploaded_before is not None:
                    # pip admits uploads strictly before the time given.
                    later = uploaded_before + timedelta(seconds=1)
                    cmd += ["--uploaded-prior-to", _rfc3339(later)]
            if constraints:
                cmd += ["-c", str(constraint_file)]
            proc = subprocess.run(
                [*cmd, "-r", str(req_file)], capture_output=True, text=True, env=env
            )
        if proc.returncode != 0:
            output = (proc.stdout or "") + (proc.stderr or "")
            hook = f"installing build requirements {', '.join(requirements)}"
            log = self.logs.keep(what, "install", f"$ {' '.join(cmd)}\n{output}")
            raise HookFailed(what, hook, f"failed: {last_line(proc.stderr or proc.stdout)}", log)

    def _pip_command(
        self, no_deps: bool, constraints: Sequence[str], constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]:
        cmd = [sys.executable, "-m", "pip", "--python", self.python, "install"]
        cmd += ["--disable-pip-version-check", "--no-input", "--no-warn-script-location", "-q"]
        if no_deps:
            cmd.append("--no-deps")
        env = self.environ()
        if constraints:
            if _pip_version() >= (25, 3):
                cmd += ["--build-constraint", str(constraint_file)]
            else:
                env["PIP_CONSTRAINT"] = " ".join(
                    p for p in (env.get("PIP_CONSTRAINT"), str(constraint_file)) if p
                )
        return cmd, env

    def _uv_command(
        self, uv: str, no_deps: bool, constraints: Sequence[str], constraint_file: Path
    ) -> tuple[list[str], dict[str, str]]:
        """The same install through uv, several times faster than pip; the index options
        are translated so that uv looks where pip would (all indexes, best match)."""
        cmd = [uv, "pip", "install", "--python", self.python, "--quiet"]
        if no_deps:
            cmd.append("--no-deps")
        if constraints:
            cmd += ["--build-constraints", str(constraint_file)]
        env = self.environ()
        env["UV_NO_CONFIG"] = "1"
        env["UV_INDEX_STRATEGY"] = "unsafe-best-match"
        if self.pip_env.get("PIP_NO_INDEX"):
            cmd.append("--no-index")
        if self.pip_env.get("PIP_INDEX_URL"):
            env["UV_INDEX_URL"] = self.pip_env["PIP_INDEX_URL"]
        if self.pip_env.get("PIP_EXTRA_INDEX_URL"):
            env["UV_EXTRA_INDEX_URL"] = self.pip_env["PIP_EXTRA_INDEX_URL"]
        for link in self.pip_env.get("PIP_FIND_LINKS", "").split():
            cmd += ["--find-links", link]
        if self.pip_env.get("PIP_PRE"):
            cmd += ["--prerelease", "allow"]
        return cmd, env

    def pins(self) -> tuple[str, ...]:
        """``name==version`` of everything installed here, sorted (asked once)."""
        if self._pins is None:
            code = (
                "import importlib.metadata as m\n"
                "for d in m.distributions(): print(d.metadata['Name'], d.version)"
            )
            proc = subprocess.run(
                [self.python, "-I", "-c", code], capture_output=True, text=True, check=False
            )
            found = set()
            for line in proc.stdout.splitlines():
                name, _, version = line.partition(" ")
                if name and version:
                    found.add(f"{canonicalize_name(name)}=={version}")
            self._pins = tuple(sorted(found))
        return self._pins

    def environ(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.pip_env)
        env["PATH"] = self.bindir + os.pathsep + env.get("PATH", "")
        env.pop("PYTHONPATH", None)
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        return env


def uv_binary() -> str | None:
    """uv, when it is at hand (beside this Python, or on PATH), to fill hook environments;
    LOCKBUILD_HOOK_INSTALLER=pip keeps pip, =uv insists on uv."""
    chosen = limits.hook_installer()
    if chosen == "pip":
        return None
    beside = Path(sys.executable).with_name("uv.exe" if os.name == "nt" else "uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None and chosen == "uv":
        raise UsageError("LOCKBUILD_HOOK_INSTALLER=uv: uv is neither beside lockbuild nor on PATH")
    return found


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import version

    try:
        return tuple(int(x) for x in version("pip").split(".")[:2])
    except (ValueError, LookupError):
        return (0,)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid_requires(answer: object) -> str | None:
    """Why a get_requires_for_build_wheel answer is unusable (None when it is fine)."""
    if not isinstance(answer, list) or not all(isinstance(r, str) for r in answer):
        return f"returned {type(answer).__name__}, not a list of requirement strings"
    for text in answer:
        try:
            Requirement(text)
        except InvalidRequirement:
            return f"returned an invalid requirement {text[:100]!r}"
    return None


def _dist_info_metadata(out_dir: Path, name: object) -> bytes | str:
    """METADATA of the .dist-info directory a hook named, confined to ``out_dir``; or
    why the answer is unusable."""
    if (
        not isinstance(name, str)
        or not name.endswith(".dist-info")
        or any(c in name for c in "/\\\0")
        or name.startswith(".")
    ):
        return f"returned an invalid .dist-info name {str(name)[:100]!r}"
    path = out_dir / name / "METADATA"
    try:
        if not path.resolve().is_relative_to(out_dir.resolve()) or not path.is_file():
            return f"named {name}, which holds no METADATA file"
        if path.stat().st_size > MAX_MEMBER_BYTES:
            return f"wrote an implausibly large {name}/METADATA"
        return path.read_bytes()
    except OSError as exc:
        return f"named {name}, whose METADATA cannot be read: {exc.strerror}"


def _log_text(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def run_hook(
    project_dir: Path,
    system: BuildSystem,
    env: IsolatedEnvironment,
    hook: str,
    what: str,
    out_dir: Path | None = None,
) -> list[str] | bytes:
    """Call one PEP 517 hook of ``project_dir``'s backend inside ``env``, bounded in time:
    the requirements get_requires_for_build_wheel returned, or the METADATA that
    prepare_metadata_for_build_wheel wrote. Any failure, timeout or invalid answer is a
    HookFailed whose log is kept."""
    from pyproject_hooks import BackendUnavailable, BuildBackendHookCaller, HookMissing

    with tempfile.TemporaryDirectory(prefix="lockbuild-log-") as logdir:
        log = Path(logdir) / "hook.log"
        log.touch()

        def fail(reason: str) -> HookFailed:
            return HookFailed(what, hook, reason, env.logs.keep(what, hook, _log_text(log)))

        def runner(
            cmd: Sequence[str],
            cwd: str | None = None,
            extra_environ: Mapping[str, str] | None = None,
        ) -> None:
            environ = env.environ()
            environ.update(extra_environ or {})
            code = run_bounded(cmd, cwd=cwd, env=environ, log=log)
            if code != 0:
                raise subprocess.CalledProcessError(code, cmd)

        caller = BuildBackendHookCaller(
            str(project_dir),
            system.backend,
            backend_path=list(system.backend_path) or None,
            runner=runner,
            python_executable=env.python,
        )
        try:
            if hook == "get_requires_for_build_wheel":
                answer = caller.get_requires_for_build_wheel({})
                invalid = _invalid_requires(answer)
                if invalid is not None:
                    raise fail(invalid)
                return list(answer)
            if hook == "prepare_metadata_for_build_wheel":
                assert out_dir is not None
                found = _dist_info_metadata(
                    out_dir, caller.prepare_metadata_for_build_wheel(str(out_dir), {}, True)
                )
                if isinstance(found, str):
                    raise fail(found)
                return found
            raise ValueError(hook)
        except HookTimeout as exc:
            raise fail(str(exc)) from None
        except BackendUnavailable as exc:
            raise fail(
                f"build backend {system.backend!r} is unavailable: {last_line(str(exc))}"
            ) from None
        except HookMissing as exc:
            raise fail(f"build backend lacks hook {exc}") from None
        except subprocess.CalledProcessError:
            raise fail(f"failed: {last_line(_log_text(log))}") from None


class EnvironmentPool:
    """Isolated environments shared by every hook that needs the same requirement set,
    constraints and upload cutoff: each is created and populated once per run; ``close``
    removes them all. ``base_python`` is the interpreter they are made from (None: the
    one running lockbuild)."""

    def __init__(self, pip_env: Mapping[str, str], *, base_python: str | None = None) -> None:
        self.pip_env = dict(pip_env)
        self.base_python = base_python
        self.logs = LogKeeper()
        self._lock = threading.Lock()
        self._envs: dict[EnvKey, IsolatedEnvironment] = {}
        self._key_locks: dict[EnvKey, threading.Lock] = {}
        self._closed = False

    def prepare(
        self,
        requirements: Sequence[str],
        what: str,
        *,
        constraints: Sequence[str] = (),
        uploaded_before: datetime | None = None,
    ) -> None:
        """Start making the environment for ``requirements`` in the background, so that
        installing it overlaps other work; a failure shows again when it is asked for."""

        def make() -> None:
            try:
                self.get(
                    requirements, what, constraints=constraints, uploaded_before=uploaded_before
                )
            except Exception:  # noqa: BLE001 - reported when the environment is asked for
                return

        threading.Thread(target=make, name="lockbuild-env", daemon=True).start()

    def get(
        self,
        requirements: Sequence[str],
        what: str,
        *,
        constraints: Sequence[str] = (),
        no_deps: bool = False,
        uploaded_before: datetime | None = None,
    ) -> IsolatedEnvironment:
        key = EnvKey(
            tuple(sorted(set(requirements))),
            no_deps,
            tuple(sorted(set(constraints))),
            uploaded_before,
        )
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            env = self._envs.get(key)
            if env is None:
                env = IsolatedEnvironment(
                    self.pip_env, base_python=self.base_python, logs=self.logs
                ).__enter__()
                try:
                    env.install(
                        key.requirements,
                        what,
                        constraints=key.constraints,
                        no_deps=no_deps,
                        uploaded_before=uploaded_before,
                    )
                except BaseException:
                    env.__exit__()
                    raise
                with self._lock:
                    closed = self._closed
                    if not closed:
                        self._envs[key] = env
                if closed:  # made after close(): nobody else would remove it
                    env.__exit__()
                    raise BuildError(f"{what}: the run ended while its environment was made")
            return env

    def close(self) -> None:
        with self._lock:
            self._closed = True
            envs, self._envs = list(self._envs.values()), {}
        for env in envs:
            env.__exit__()


@dataclass(frozen=True)
class EnvKey:
    """What shapes an isolated environment (environments are shared by this key)."""

    requirements: tuple[str, ...]
    no_deps: bool
    constraints: tuple[str, ...]
    uploaded_before: datetime | None


@dataclass(frozen=True)
class PreparedMetadata:
    """What preparing metadata learned: METADATA, and what get_requires_for_build_wheel
    returned in an environment holding ``pins`` (so a later round may reuse it)."""

    metadata: bytes
    build_requires: tuple[str, ...]
    pins: tuple[str, ...]


# Both hooks that preparing metadata needs run in one interpreter (one backend import
# instead of two) when the first asks for nothing that is not installed yet, by the
# program lockbuild/programs/hooks.py (once, or as a fork server per environment and
# backend). Anything unusual falls back to pyproject_hooks, which calls one hook per
# process.


class _Pending:
    """One request to the fork server: the child's pid once started, its exit code once
    ended (a plain mutable holder shared by the caller and the reader thread)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.pid: int | None = None
        self.code: int | None = None


class HookServer:
    """The lockbuild side of the fork server in ``programs/hooks.py``: requests from any
    thread, each answered with the child's exit code (None when the server is gone: the
    caller falls back)."""

    def __init__(self, env: IsolatedEnvironment, backend: str) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, _Pending] = {}
        self._next = 0
        self._proc = subprocess.Popen(
            [env.python, str(programs.path("hooks")), "serve", backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=Path(env.python).parent.parent,
            env=env.environ(),
        )
        assert self._proc.stdout is not None
        self._alive = self._proc.stdout.readline() == b"ready\n"
        if self._alive:
            threading.Thread(target=self._read, name="lockbuild-hooks", daemon=True).start()
        else:
            self.close()

    def ready(self) -> bool:
        with self._lock:
            return self._alive

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            ident, _, rest = line.decode().strip().partition(" ")
            with self._lock:
                if rest.startswith("pid "):
                    pending = self._waiting.get(int(ident))
                    if pending is not None:
                        pending.pid = int(rest[4:])
                    continue
                pending = self._waiting.pop(int(ident), None)
            if pending is not None:
                pending.code = int(rest)
                pending.event.set()
        with self._lock:
            self._alive = False
            waiters, self._waiting = list(self._waiting.values()), {}
        for waiter in waiters:
            waiter.event.set()

    def run(self, project_dir: Path, out_dir: Path, result_file: Path, log: Path) -> int | None:
        """The child's exit code; None when the server is gone. Raises HookTimeout (the
        child's group killed) when it runs longer than LOCKBUILD_HOOK_TIMEOUT."""
        pending = _Pending()
        with self._lock:
            if not self._alive:
                return None
            self._next += 1
            ident = self._next
            self._waiting[ident] = pending
            request = {
                "id": ident,
                "project": str(project_dir),
                "out": str(out_dir),
                "result": str(result_file),
                "log": str(log),
            }
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._waiting.pop(ident, None)
                return None
        seconds = limits.hook_timeout()
        if not pending.event.wait(seconds):
            with self._lock:
                self._waiting.pop(ident, None)
                pid = pending.pid
            if pid is not None:
                kill_group(pid)
            raise HookTimeout(seconds)
        return pending.code

    def close(self) -> None:
        with self._lock:
            self._alive = False
            if self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


_BOTH = "prepare_metadata_for_build_wheel"


def _both_hooks(
    project_dir: Path,
    system: BuildSystem,
    env: IsolatedEnvironment,
    out_dir: Path,
    what: str = "the build backend",
) -> tuple[list[str], str | None] | None:
    """(requirements, dist-info name or None), or None when the fast path did not work
    (the caller then asks pyproject_hooks, whose errors are the backend's own). A
    timeout is final: the same hook would only time out again."""
    result_file = out_dir / ".lockbuild-hooks.json"
    log = out_dir / ".lockbuild-hooks.log"
    try:
        if not system.backend_path:
            server = env.hook_server(system.backend)
            code = server.run(project_dir, out_dir, result_file, log) if server else None
            if code is not None:
                return _both_result(result_file, code)
        code = run_bounded(
            [
                env.python,
                str(programs.path("hooks")),
                "both",
                system.backend,
                json.dumps(list(system.backend_path)),
                str(out_dir),
                str(result_file),
            ],
            cwd=project_dir,
            env=env.environ(),
            log=log,
        )
    except HookTimeout as exc:
        kept = env.logs.keep(what, _BOTH, _log_text(log))
        raise HookFailed(what, _BOTH, str(exc), kept) from None
    return _both_result(result_file, code)


def _both_result(result_file: Path, code: int) -> tuple[list[str], str | None] | None:
    try:
        data = json.loads(result_file.read_text(encoding="utf-8"))
        result_file.unlink()
    except (OSError, ValueError):
        return None
    if code != 0 or not isinstance(data, dict) or _invalid_requires(data.get("requires")):
        return None
    dist_info = data.get("dist_info")
    return [str(r) for r in data["requires"]], dist_info if isinstance(dist_info, str) else None


def hook_metadata(
    project_dir: Path,
    system: BuildSystem,
    pool: EnvironmentPool,
    what: str,
    *,
    constraints: Sequence[str] = (),
    uploaded_before: datetime | None = None,
    keep_wheel: Callable[[Path, tuple[str, ...], str], object] | None = None,
) -> PreparedMetadata:
    """METADATA of a project via prepare_metadata_for_build_wheel (falling back to a wheel
    build) in an isolated environment holding its build requirements, bound by
    ``constraints`` (the lock's build overrides and constraints); a wheel built for the
    fallback is handed to ``keep_wheel`` with the environment's pins and interpreter."""
    env = pool.get(system.requires, what, constraints=constraints, uploaded_before=uploaded_before)
    with tempfile.TemporaryDirectory(prefix="lockbuild-meta-") as out:
        fast = _both_hooks(project_dir, system, env, Path(out), what)
        pins = env.pins()
        if fast is not None and fast[1] is not None:
            found = _dist_info_metadata(Path(out), fast[1])
            if isinstance(found, str):
                raise HookFailed(what, "prepare_metadata_for_build_wheel", found)
            return PreparedMetadata(found, tuple(fast[0]), pins)
        if fast is not None:
            extra = fast[0]
        else:
            found_requires = run_hook(
                project_dir, system, env, "get_requires_for_build_wheel", what
            )
            assert isinstance(found_requires, list)
            extra = found_requires
        if set(extra) - set(system.requires):
            env = pool.get(
                [*system.requires, *extra],
                what,
                constraints=constraints,
                uploaded_before=uploaded_before,
            )
        metadata = run_hook(
            project_dir, system, env, "prepare_metadata_for_build_wheel", what, Path(out)
        )
        assert isinstance(metadata, bytes)
        if keep_wheel is not None:
            for wheel in Path(out).glob("*.whl"):
                keep_wheel(wheel, env.pins(), env.python)
    return PreparedMetadata(metadata, tuple(extra), pins)


def hook_build_requires(
    project_dir: Path,
    system: BuildSystem,
    pool: EnvironmentPool,
    pins: Sequence[str],
    constraints: Sequence[str],
    what: str,
) -> list[str]:
    """What get_requires_for_build_wheel adds, run in an environment holding ``pins``."""
    env = pool.get(pins, what, constraints=constraints, no_deps=True)
    result = run_hook(project_dir, system, env, "get_requires_for_build_wheel", what)
    assert isinstance(result, list)
    return result


def copy_project(src: Path, dest: Path) -> Path:
    """A scratch copy of a local project directory, so hooks never write into the user's tree."""
    target = dest / src.name
    shutil.copytree(src, target, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__"))
    return target
