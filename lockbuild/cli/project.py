"""A project file as input (pyproject.toml, setup.py, setup.cfg): the project itself is a
root whose metadata gives the requirements; its PEP 735 dependency groups are read here."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lockbuild.cli.reqline import placeholder_name
from lockbuild.errors import InputError
from lockbuild.spec import InputRequirement, Origin, display_path

PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def project_inputs(
    path: Path, extras: tuple[str, ...], all_extras: bool, groups: tuple[str, ...]
) -> tuple[list[InputRequirement], list[Path]]:
    """The requirements a project file gives (the project itself, then the requirements of
    the groups asked for), and the files read for them."""
    if not path.exists():
        raise InputError(f"no such project file: {display_path(path)}")
    files = [path.resolve()]
    project_dir = path.resolve().parent
    origin = Origin(display_path(path))
    pyproject = project_dir / "pyproject.toml"
    data: dict[str, object] = {}
    if pyproject.exists():
        import tomllib  # start-up speed: only a pyproject.toml input needs it

        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{display_path(pyproject)}: not valid TOML: {exc}") from None
        files.append(pyproject.resolve())
    wanted = {canonicalize_name(e) for e in extras}
    from urllib.request import pathname2url  # start-up speed, as in reqline

    url = "file://" + pathname2url(str(project_dir))
    extra_text = f"[{','.join(sorted(wanted))}]" if wanted else ""
    placeholder = Requirement(f"{placeholder_name(project_dir)}{extra_text} @ {url}")
    found = [
        InputRequirement(
            placeholder,
            origin,
            url=url,
            path_text=str(project_dir),
            project=True,
            all_extras=all_extras,
        )
    ]
    if groups:
        found += _group_requirements(pyproject, data, groups, origin)
    return found, files


def _group_requirements(
    pyproject: Path, data: dict[str, object], groups: tuple[str, ...], origin: Origin
) -> list[InputRequirement]:
    """The requirements of the dependency groups asked for (PEP 735, includes resolved)."""
    # start-up speed: dependency_groups (~70 ms) only when a group is asked for
    from dependency_groups import CyclicDependencyError, resolve

    table = data.get("dependency-groups")
    if not isinstance(table, dict):
        raise InputError(f"{display_path(pyproject)}: no [dependency-groups] table")
    found = []
    for group in groups:
        if group not in table:
            known = ", ".join(sorted(table)) or "none"
            raise InputError(
                f"{display_path(pyproject)}: no dependency group {group!r} (known: {known})"
            )
        try:
            lines = resolve(table, group)
        except (CyclicDependencyError, LookupError, TypeError, ValueError) as exc:
            # packaging's parse errors span lines (the text, a caret under it): one kept
            detail = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise InputError(
                f"{display_path(pyproject)}: dependency group {group!r}: {detail}"
            ) from None
        for text in lines:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                raise InputError(
                    f"{display_path(pyproject)}: group {group!r}: invalid requirement {text!r}"
                ) from None
            label = f"{origin.file} (group {group})"
            found.append(InputRequirement(req, origin, url=req.url, label=label))
    return found
