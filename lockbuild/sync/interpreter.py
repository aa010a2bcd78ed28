"""What an interpreter reports about itself, read through that interpreter by
programs/environment.py: where it is, whether it is a venv, its marker values and the
distributions it sees. Sync reads its target this way (and finds which interpreter that
is: --python, the active venv, --system).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.build.probe import ask_environment
from lockbuild.build.provenance import BuildRecord, parse_record
from lockbuild.errors import UsageError

# Never uninstalled for being unlisted: the installer's own tooling.
TOOLING = frozenset(canonicalize_name(n) for n in ("pip", "setuptools", "wheel"))


@dataclass(frozen=True)
class Installed:
    name: NormalizedName
    version: str
    requires: tuple[str, ...] = ()
    url: str | None = None
    record: BuildRecord | None = None  # provenance, when lockbuild built it
    # Whether it carries a build record at all (one not parsed was edited or damaged).
    has_record: bool = False


@dataclass(frozen=True)
class Environment:
    """What the target interpreter reports about itself."""

    python: str
    prefix: str
    is_venv: bool
    markers: tuple[tuple[str, str], ...]
    dists: tuple[Installed, ...]
    # The C library family on Linux ("glibc" or "musl"); "" when not Linux or not known.
    libc: str = ""

    @property
    def by_name(self) -> dict[NormalizedName, Installed]:
        return {d.name: d for d in self.dists}

    @property
    def python_version(self) -> str:
        return dict(self.markers).get("python_full_version", "?")


def target_python(python: str | None, system: bool) -> str:
    """The interpreter to sync: --python, else the active venv, else (--system) python3."""
    if python:
        path = Path(python)
        if path.is_dir():
            for candidate in ("bin/python", "bin/python3", "Scripts/python.exe"):
                if (path / candidate).exists():
                    return str(path / candidate)
            raise UsageError(f"--python {python}: a directory with no bin/python in it")
        if path.exists() or os.sep in python:
            return python
        found = shutil.which(python)
        if found is None:
            raise UsageError(f"--python {python}: no such interpreter")
        return found
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        for candidate in ("bin/python", "Scripts/python.exe"):
            if (Path(venv) / candidate).exists():
                return str(Path(venv) / candidate)
        raise UsageError(f"VIRTUAL_ENV={venv}: no interpreter in it; give --python PATH")
    if system:
        found = shutil.which("python3") or shutil.which("python")
        if found is None:
            raise UsageError("--system: no python3 on PATH; give --python PATH")
        return found
    raise UsageError(
        "no virtual environment is active (VIRTUAL_ENV is unset): activate one, "
        "give --python PATH, or add --system to sync the python3 on PATH"
    )


def probe(python: str) -> Environment:
    """Read the target environment through its own interpreter."""
    data = ask_environment(python)
    seen: dict[NormalizedName, Installed] = {}
    for item in data["dists"]:
        name = canonicalize_name(item["name"])
        if name not in seen:  # the first on sys.path is the one imports see
            seen[name] = Installed(
                name,
                str(item["version"]),
                tuple(item["requires"]),
                item.get("url"),
                parse_record(item.get("build")),
                bool(item.get("build")),
            )
    return Environment(
        python=python,
        prefix=str(data["prefix"]),
        is_venv=bool(data["venv"]),
        markers=tuple(sorted((k, str(v)) for k, v in data["markers"].items())),
        dists=tuple(seen[n] for n in sorted(seen)),
        libc=str(data.get("libc") or ""),
    )


def check_target(env: Environment, system: bool) -> None:
    if not env.is_venv and not system:
        raise UsageError(
            f"{env.python} is not a virtual environment (its prefix {env.prefix} is a base "
            "interpreter); refusing to change it: give --python a venv, or add --system "
            "to sync it anyway"
        )


def protected_names(env: Environment, installer: str) -> frozenset[NormalizedName]:
    """Installed tooling kept when unlisted: pip, setuptools, wheel, the uv package when
    it is the installer, and lockbuild with everything it needs when it lives there."""
    installed = env.by_name
    keep: set[NormalizedName] = {n for n in TOOLING if n in installed}
    if installer == "uv" and "uv" in installed:
        keep.add(canonicalize_name("uv"))
    markers = dict(env.markers)
    seen: set[NormalizedName] = set()
    stack = [canonicalize_name("lockbuild")]
    while stack:
        name = stack.pop()
        dist = installed.get(name)
        if dist is None or name in seen:
            continue
        seen.add(name)
        keep.add(name)
        for text in dist.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({**markers, "extra": ""}):
                continue
            stack.append(canonicalize_name(req.name))
    return frozenset(keep)
