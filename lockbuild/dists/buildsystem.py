"""The PEP 518 build-system table of a project: what to install and which backend to call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement

from lockbuild.errors import DistError
from lockbuild.model import parse_requirement

LEGACY_BUILD_REQUIRES = ("setuptools>=40.8.0",)


LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


@dataclass(frozen=True)
class BuildSystem:
    """What ``[build-system]`` says (or pip's legacy default when there is none)."""

    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...]
    has_pyproject: bool


def build_system(pyproject: bytes | None, where: str) -> BuildSystem:
    """The build system an sdist or project declares, validated; pip's default without one."""
    if pyproject is None:
        return BuildSystem(LEGACY_BUILD_REQUIRES, LEGACY_BACKEND, (), False)
    import tomllib  # start-up speed: only where a pyproject.toml is read

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
            parse_requirement(text)
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
