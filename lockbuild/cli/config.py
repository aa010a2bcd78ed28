"""``[tool.lockbuild]`` in pyproject.toml: defaults for compile options (flags win).
Where it is absent, pip-tools' ``[tool.pip-tools]`` (in .pip-tools.toml or pyproject.toml,
as pip-compile looks for it) is read with pip-compile's meaning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from lockbuild.errors import InputError
from lockbuild.spec import display_path

# key -> (compile parameter name, expected kind)
KEYS: dict[str, tuple[str, type]] = {
    "index-url": ("index_url", str),
    "extra-index-url": ("extra_index_url", list),
    "find-links": ("find_links", list),
    "no-index": ("no_index", bool),
    "pre": ("pre", bool),
    "index-strategy": ("index_strategy", str),
    "only-binary": ("only_binary", list),
    "no-binary": ("no_binary", list),
    "generate-hashes": ("generate_hashes", bool),
    "extras": ("extra", list),
    "all-extras": ("all_extras", bool),
    "groups": ("group", list),
    "output-file": ("output_file", str),
    "build-output-file": ("build_output_file", str),
    "build-constraints": ("build_constraints", list),
    "build-deps-for": ("build_deps_for", str),
    "build-hooks": ("build_hooks", bool),
    "build-deps-as-of-release": ("build_deps_as_of_release", bool),
    "python-version": ("python_version", str),
    "platform": ("platform", list),
    "exclude-newer": ("exclude_newer", str),
}


# Keys whose value is one of a few words (as the command line's choices).
CHOICES: dict[str, tuple[str, ...]] = {
    "build-deps-for": ("needed", "all"),
    "index-strategy": ("first-index", "unsafe-best-match"),
}


@dataclass(frozen=True)
class Config:
    path: Path | None
    values: dict[str, Any]


def config_path(sources: Sequence[Path]) -> Path | None:
    """The pyproject.toml beside the first input (or the input itself)."""
    first = sources[0] if sources else Path("requirements.in")
    candidate = first if first.name == "pyproject.toml" else first.parent / "pyproject.toml"
    return candidate if candidate.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # start-up speed: only where a configuration file is found

    where = display_path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{where}: no such configuration file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{where}: not valid TOML: {exc}") from None


def load(
    sources: Sequence[Path],
    *,
    explicit: Path | None = None,
    no_config: bool = False,
    command: click.Command | None = None,
    section: str = "compile",
) -> Config:
    """Read and validate ``[tool.lockbuild]``; unknown keys suggest the closest valid one.
    Without it, ``[tool.pip-tools]`` (and its ``compile`` table) of the first of
    .pip-tools.toml and pyproject.toml beside the first input that has one; ``explicit``
    (--config) names the file instead, ``no_config`` reads none."""
    if no_config:
        return Config(None, {})
    # [tool.lockbuild] holds compile's defaults; sync reads only pip-tools' sync table.
    lockbuild = section == "compile"
    if explicit is not None:
        data = _read_toml(explicit)
        if lockbuild and "lockbuild" in data.get("tool", {}):
            return _lockbuild_table(explicit, data)
        return _pip_tools_table(explicit, data, command, section)
    path = config_path(sources)
    if path is not None and lockbuild:
        data = _read_toml(path)
        if "lockbuild" in data.get("tool", {}):
            return _lockbuild_table(path, data)
    first = sources[0] if sources else Path("requirements.in")
    for name in (".pip-tools.toml", "pyproject.toml"):
        candidate = first.parent / name
        if candidate.is_file():
            data = _read_toml(candidate)
            if "pip-tools" in data.get("tool", {}):
                return _pip_tools_table(candidate, data, command, section)
    return Config(path if lockbuild else None, {})


def _lockbuild_table(path: Path, data: dict[str, Any]) -> Config:
    where = display_path(path)
    table = data.get("tool", {}).get("lockbuild", {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: [tool.lockbuild] is not a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            import difflib  # start-up speed: only for this error

            close = difflib.get_close_matches(key, list(KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{where}: [tool.lockbuild] unknown key {key!r}{hint}")
        param, kind = KEYS[key]
        if kind is list and isinstance(value, str):
            value = [value]
        if not isinstance(value, kind) or (
            isinstance(value, list) and not all(isinstance(v, str) for v in value)
        ):
            expected = {str: "a string", list: "a list of strings", bool: "true or false"}[kind]
            raise InputError(f"{where}: [tool.lockbuild] {key} must be {expected}")
        if key in CHOICES and value not in CHOICES[key]:
            allowed = " or ".join(repr(c) for c in CHOICES[key])
            raise InputError(f"{where}: [tool.lockbuild] {key} must be {allowed}, not {value!r}")
        if isinstance(value, list):
            value = tuple(value)
        values[param] = value
    return Config(path, values)


# Keys [tool.pip-tools] may hold that are not read from it: which file to read, and
# compile's one-off options when the command reading it (check) has no such option.
_PIP_TOOLS_SKIPPED = {"--config", "--no-config"}
_COMPILE_ONLY = {"--upgrade", "--no-upgrade", "--upgrade-package", "--dry-run", "--rebuild"}


def _pip_tools_table(
    path: Path, data: dict[str, Any], command: click.Command | None, section: str = "compile"
) -> Config:
    """``[tool.pip-tools]`` with its ``compile`` (or ``sync``) table over it, read as
    pip-tools reads it: each key is a long option of the command (``no-header = true`` is
    ``--no-header``), its value as the option takes it."""
    where = display_path(path)
    table = data.get("tool", {}).get("pip-tools", {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: [tool.pip-tools] is not a table")
    merged = {k: v for k, v in table.items() if k not in ("compile", "sync")}
    own = table.get(section, {})
    if isinstance(own, dict):
        merged.update(own)
    if command is None:
        return Config(path, {})
    options: dict[str, tuple[click.Option, bool]] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                options[opt] = (param, False)
            for opt in param.secondary_opts:
                options[opt] = (param, True)
    values: dict[str, Any] = {}
    ctx = click.Context(command)
    for key, value in merged.items():
        long = "--" + key.replace("_", "-")
        if long in _PIP_TOOLS_SKIPPED or (long in _COMPILE_ONLY and long not in options):
            continue
        if long not in options:
            raise InputError(f"{where}: [tool.pip-tools] unknown key {key!r}")
        param, negative = options[long]
        if param.is_flag and isinstance(value, bool) and negative:
            value = not value
        if param.multiple and isinstance(value, str):
            value = [value]
        try:
            converted = param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise InputError(f"{where}: [tool.pip-tools] {key}: {exc.message}") from None
        assert param.name is not None
        values[param.name] = converted
    return Config(path, values)
