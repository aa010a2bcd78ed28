"""One requirement as an input line gives it: PEP 508, a URL with ``#egg=``, or a
local project directory or archive (named by a placeholder until its metadata is read)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from lockbuild.errors import InputError
from lockbuild.model import parse_requirement
from lockbuild.spec import InputRequirement, Origin, shown

_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


def make_requirement(
    text: str, origin: Origin, base: Path, constraint: bool, *, editable: bool
) -> InputRequirement:
    """Turn a requirement line (PEP 508, URL or local path) into an InputRequirement."""
    is_url = bool(re.match(r"^[a-z][a-z0-9+.-]*://", text)) and not text.startswith("file:")
    if not is_url and (
        text.startswith("file:") or (not _is_pep508_start(text) and _looks_like_path(text))
    ):
        return _path_requirement(text, origin, base, constraint, editable)
    if is_url:
        egg = re.search(r"#egg=([A-Za-z0-9_.-]+)", text)
        if not egg:
            raise InputError(f"{origin}: a URL needs a name: write 'NAME @ {shown(text)[1:-1]}'")
        text = f"{egg.group(1)} @ {text.split('#', 1)[0]}"
    try:
        req = parse_requirement(text)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0]
        raise InputError(f"{origin}: invalid requirement {shown(text)}: {detail}") from None
    if constraint and req.extras:
        # pip refuses them too: a constraint limits versions, it does not pull in extras.
        raise InputError(f"{origin}: a constraint cannot have extras: {shown(text)}")
    url = req.url
    if url and url.startswith("file:"):
        return _path_requirement(url, origin, base, constraint, editable, name=req)
    return InputRequirement(req, origin, constraint=constraint, editable=editable, url=url)


def _is_pep508_start(text: str) -> bool:
    # Possessive quantifiers: no backtracking between the two runs of blanks.
    return bool(
        re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*+\s*+(?:\[[^\]]*+\])?+\s*+(?:@|[<>=!~;]|$)", text)
    )


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~"))
        or os.sep in text.split(";")[0]
        or text.endswith(_ARCHIVE_SUFFIXES)
    )


def _path_requirement(
    text: str,
    origin: Origin,
    base: Path,
    constraint: bool,
    editable: bool,
    name: Requirement | None = None,
) -> InputRequirement:
    """A local project directory or archive, named by reading its metadata later."""
    # start-up speed: urllib.request (with http.client, email and ssl) only for a path
    from urllib.request import pathname2url, url2pathname

    location, _, marker = text.partition(";")
    location = location.strip()
    extras = ""
    if location.endswith("]") and not location.startswith("file:"):
        # "path[extras]": the first "[" after the last earlier "]" (found without a
        # pattern that backtracks over a long location).
        opening = location.find("[", location.rfind("]", 0, len(location) - 1) + 1)
        if 0 <= opening < len(location) - 2:
            location, extras = location[:opening], location[opening:]
    if location.startswith("file:"):
        parsed = urlsplit(location)
        path = Path(url2pathname(unquote(parsed.path)))
        if parsed.netloc not in ("", "localhost"):
            raise InputError(
                f"{origin}: file URL with a host is not supported: {shown(location)[1:-1]}"
            )
    else:
        path = Path(os.path.expanduser(location))
    if not path.is_absolute():
        path = (base / path).resolve()
    if not path.exists():
        raise InputError(f"{origin}: no such file or directory: {shown(location)[1:-1]}")
    url = "file://" + pathname2url(str(path))
    if name is None:
        # The name is not known until the project's metadata is read; use a placeholder
        # requirement that the resolver replaces once it has read the metadata.
        placeholder = f"{placeholder_name(path)}{extras} @ {url}"
        if marker.strip():
            placeholder += f" ; {marker.strip()}"
        req = Requirement(placeholder)
    else:
        req = name
    return InputRequirement(
        req,
        origin,
        constraint=constraint,
        editable=editable,
        url=url,
        path_text=location,
    )


def placeholder_name(path: Path) -> str:
    """A best guess at a local project's name, refined later from its metadata."""
    stem = path.name
    for suffix in _ARCHIVE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.split("-")[0] if path.is_file() else stem
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-._")
    return cleaned or "unnamed"
