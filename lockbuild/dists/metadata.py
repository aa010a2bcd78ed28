"""Core metadata as resolution reads it: METADATA / PKG-INFO bytes, and static
[project] tables of pyproject.toml (PEP 621)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockbuild import lenient
from lockbuild.errors import DistError, InvalidMetadataError
from lockbuild.model import parse_requirement


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
    # How malformed fields were read (as pip and uv read them): one note each.
    notes: tuple[str, ...] = ()


# The end of the header fields: an empty line (the long description follows it).
_HEADERS_END = re.compile(rb"\n\r?\n")


def parse_metadata(data: bytes, where: str) -> CoreMetadata:
    """Parse METADATA / PKG-INFO bytes; ``where`` names the file in errors. Only the
    header fields are read: the description after them, often most of the file, is not
    used here and the email parser would walk it line by line."""
    end = _HEADERS_END.search(data)
    raw, _unparsed = parse_email(data if end is None else data[: end.start() + 1])
    try:
        name = canonicalize_name(str(raw["name"]))
        version = Version(str(raw["version"]))
    except KeyError as exc:
        raise InvalidMetadataError(f"{where}: metadata has no {exc.args[0]} field") from None
    except InvalidVersion:
        raise InvalidMetadataError(
            f"{where}: metadata has an invalid version {raw['version']!r}"
        ) from None
    # What pip and uv read with a warning is read the same way, with a note; what neither
    # reads makes the metadata invalid.
    notes: list[str] = []
    requires_python = None
    if raw.get("requires_python"):
        given = str(raw["requires_python"])
        requires_python, how = lenient.requires_python(given)
        if how:
            notes.append(f"{where}: invalid Requires-Python {given[:100]!r} {how}")
    requires_dist: list[str] = []
    for text in map(str, raw.get("requires_dist", [])):
        try:
            parse_requirement(text)
        except InvalidRequirement:
            found = lenient.requirement(text)
            if found is None:
                raise InvalidMetadataError(
                    f"{where}: metadata has an invalid Requires-Dist {text[:200]!r}"
                ) from None
            fixed, what = found
            notes.append(
                f"{where}: invalid Requires-Dist {text[:100]!r} read as {fixed[:100]!r} "
                f"({what}), as uv reads it"
            )
            text = fixed
        requires_dist.append(text)
    return CoreMetadata(
        name=name,
        version=version,
        requires_dist=tuple(requires_dist),
        requires_python=requires_python,
        dynamic=frozenset(d.lower() for d in raw.get("dynamic", [])),
        metadata_version=str(raw.get("metadata_version", "1.0")),
        provides_extra=tuple(raw.get("provides_extra", [])),
        notes=tuple(notes),
    )


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
    import tomllib  # start-up speed: only where a pyproject.toml is read

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
            parse_requirement(text)
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
