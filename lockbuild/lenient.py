"""Version specifiers as installers read them in published metadata: PEP 440 first, then,
for the malformed forms real releases carry and uv reads (``>=3.6.*``, ``>= '2.7'``, a
trailing comma, ``>=7.2.0<8.0.0``, ``=>``), the reading uv gives them. A Requires-Python
that still does not parse is ignored, as pip ignores it; a Requires-Dist that still does
not parse stays invalid (neither installer takes it)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from lockbuild.model import parse_requirement

# Each repair, in the order tried (each on the text the previous ones left), with what it
# corrects; the first text that parses is taken. Patterns as text, compiled (and kept by
# the re module) on the first malformed specifier: most runs never meet one.
_REPAIRS: tuple[tuple[str, str, str], ...] = (
    (r"=>", ">=", "'=>' read as '>='"),
    (r"=<", "<=", "'=<' read as '<='"),
    (r"(\d)\s*([<>=~^!])", r"\1,\2", "a missing comma added"),
    (r"!=~((?:\d+\.)*\d+)", r"!=\1.*", "'!=~' read as '!=' with a wildcard"),
    (
        r"(<=|>=|<|>)\s*(\d+(?:\.\d+)*)\.\*",
        r"\1\2",
        "a '.*' after an ordering operator dropped",
    ),
    (r"(\d\.\d+)\*", r"\1.*", "a missing '.' before '*' added"),
    (r",\s*$", "", "a trailing comma dropped"),
    (r">\s*dev\b", ">0.0.0dev", "'>dev' read as '>0.0.0dev'"),
    (
        r"(\d+(?:\.\d+)*(?:a|b|rc|post|dev)\d+)\.0\b",
        r"\1",
        "a '.0' after a pre, post or dev number dropped",
    ),
    (r"['\"]", "", "stray quotes dropped"),
)


def _strict_specifier(text: str) -> SpecifierSet | None:
    try:
        spec = SpecifierSet(text)
        parse_requirement(f"x{text}" if text.strip() else "x")  # versions comparable
    except (InvalidSpecifier, ValueError):
        return None
    return spec


def repaired(text: str, valid: Callable[[str], bool]) -> tuple[str, tuple[str, ...]] | None:
    """``text`` repaired until ``valid(text)`` holds: the repaired text and what was
    corrected; None when no repair makes it valid."""
    current, done = text, []
    for pattern, replacement, what in _REPAIRS:
        changed = re.sub(pattern, replacement, current)
        if changed == current:
            continue
        current = changed
        done.append(what)
        if valid(current):
            return current, tuple(done)
    return None


@functools.lru_cache(maxsize=4096)
def requires_python(text: str) -> tuple[SpecifierSet | None, str]:
    """A Requires-Python as pip and uv read it: the specifier (None: no constraint) and,
    when the text is not valid PEP 440, how it was read ('' when it was valid).

    The answer is shared by all who read the same text, never to be changed: the files
    of a project repeat a handful of them, and each file's was parsed again."""
    strict = _strict_specifier(text)
    if strict is not None:
        return strict, ""
    found = repaired(text, lambda t: _strict_specifier(t) is not None)
    if found is None:
        return None, "ignored, as pip ignores an invalid Requires-Python"
    fixed, what = found
    return SpecifierSet(fixed), f"read as {fixed!r} ({', '.join(what)}), as uv reads it"


def requirement(text: str) -> tuple[str, str] | None:
    """A Requires-Dist that is not valid PEP 508 repaired as uv repairs it (its markers
    left as they are): the repaired text and what was corrected; None when it cannot be."""
    head, sep, markers = text.partition(";")

    def valid(candidate: str) -> bool:
        try:
            parse_requirement(candidate + sep + markers)
        except ValueError:
            return False
        return True

    found = repaired(head, valid)
    if found is None:
        return None
    fixed, what = found
    return fixed.rstrip() + (f"{sep}{markers}" if sep else ""), ", ".join(what)
