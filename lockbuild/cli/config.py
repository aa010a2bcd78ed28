"""``[tool.lockbuild]`` in pyproject.toml: defaults for compile options (flags win)."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def load(sources: Sequence[Path]) -> Config:
    """Read and validate ``[tool.lockbuild]``; unknown keys suggest the closest valid one."""
    path = config_path(sources)
    if path is None:
        return Config(None, {})
    where = display_path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{where}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("lockbuild", {})
    if not isinstance(table, dict):
        raise InputError(f"{where}: [tool.lockbuild] is not a table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
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
