"""What the user asked for: requirements files parsed into requirements and index options."""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import pathname2url, url2pathname

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .errors import InputError

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


@dataclass(frozen=True)
class Origin:
    """Where a requirement was written: a file and line, or the command line."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file} line {self.line}" if self.line else self.file


@dataclass(frozen=True)
class InputRequirement:
    """One requirement line of an input file."""

    requirement: Requirement
    origin: Origin
    constraint: bool = False
    editable: bool = False
    # For a direct reference or local path: an absolute URL (file:// for paths).
    url: str | None = None
    # What the user wrote for a local path, kept to write it back relative to the output.
    path_text: str | None = None
    # The project a pyproject.toml / setup.py input describes (it is built, not pinned).
    project: bool = False
    all_extras: bool = False
    label: str | None = None
    # --hash options of the line (sha256 hex): a file of the locked version must match one.
    hashes: tuple[str, ...] = ()

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def via(self) -> str:
        """How the lockfile's annotations name the file this came from."""
        if self.label:
            return self.label
        return f"{'-c' if self.constraint else '-r'} {self.origin.file}"


@dataclass(frozen=True)
class IndexOptions:
    """Options that decide where distributions come from and which are allowed."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    pre: bool = False
    trusted_hosts: tuple[str, ...] = ()

    def merged(self, other: IndexOptions) -> IndexOptions:
        """Options of ``other`` layered over these (pip-compile merges files in order)."""
        return IndexOptions(
            index_url=other.index_url or self.index_url,
            extra_index_urls=_unique(self.extra_index_urls + other.extra_index_urls),
            find_links=_unique(self.find_links + other.find_links),
            no_index=self.no_index or other.no_index,
            only_binary=self.only_binary | other.only_binary,
            no_binary=self.no_binary | other.no_binary,
            pre=self.pre or other.pre,
            trusted_hosts=_unique(self.trusted_hosts + other.trusted_hosts),
        )

    def binary_allowed(self, name: NormalizedName) -> bool:
        return not _format_listed(self.no_binary, self.only_binary, name)

    def source_allowed(self, name: NormalizedName) -> bool:
        return not _format_listed(self.only_binary, self.no_binary, name)


def _format_listed(listed: frozenset[str], other: frozenset[str], name: str) -> bool:
    """Whether ``name`` is excluded by ``listed`` (pip's --no-binary/--only-binary rule)."""
    if name in listed:
        return True
    if name in other:
        return False
    return ":all:" in listed and ":all:" not in other


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Spec:
    """All input files merged: requirements, constraints and options."""

    requirements: tuple[InputRequirement, ...]
    constraints: tuple[InputRequirement, ...]
    options: IndexOptions
    sources: tuple[Path, ...]
    # Every file read (sources and their -r/-c includes), for staleness checks.
    files_read: tuple[Path, ...] = ()


@dataclass
class _State:
    requirements: list[InputRequirement] = field(default_factory=list)
    constraints: list[InputRequirement] = field(default_factory=list)
    options: IndexOptions = field(default_factory=IndexOptions)
    files_read: list[Path] = field(default_factory=list)


def shown(text: str, limit: int = 200) -> str:
    """``text`` quoted for an error message, cut short when long."""
    return (
        repr(text)
        if len(text) <= limit
        else repr(text[:limit]) + f" (and {len(text) - limit} more characters)"
    )


def display_path(path: Path) -> str:
    """A path as annotations show it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def read_spec(
    sources: Iterable[Path],
    *,
    extras: Iterable[str] = (),
    all_extras: bool = False,
    groups: Iterable[str] = (),
) -> Spec:
    """Parse and merge requirements files (following -r and -c includes) and project
    files (pyproject.toml, setup.py, setup.cfg: the project's own requirements)."""
    state = _State()
    paths = tuple(sources)
    extras, groups = tuple(extras), tuple(groups)
    if (extras or all_extras or groups) and not any(p.name in PROJECT_FILES for p in paths):
        raise InputError(
            "--extra, --all-extras and --group need a pyproject.toml or setup.py input"
        )
    for src in paths:
        if src.name in PROJECT_FILES:
            _parse_project(src, state, extras, all_extras, groups)
            continue
        _parse_file(src, state, constraint=False, stack=())
    return Spec(
        requirements=tuple(state.requirements),
        constraints=tuple(state.constraints),
        options=state.options,
        sources=paths,
        files_read=tuple(dict.fromkeys(state.files_read)),
    )


def _parse_file(
    path: Path,
    state: _State,
    *,
    constraint: bool,
    stack: tuple[Path, ...],
    origin: Origin | None = None,
) -> None:
    """Parse one file; ``origin`` is the -r/-c line that included it, named in errors."""
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(display_path(p) for p in (*stack, resolved))
        where = origin or display_path(path)
        raise InputError(f"{where}: requirements files include each other: {chain}")
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            # A FIFO or device would block or never end; pip reads regular files only.
            where = f"{origin}: " if origin else ""
            raise InputError(f"{where}{display_path(path)}: not a regular file")
        # utf-8-sig: a byte order mark at the start is dropped, as pip does.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        where = f"{origin}: " if origin else ""
        raise InputError(f"{where}no such requirements file: {display_path(path)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        if origin:
            raise InputError(f"{origin}: cannot read {display_path(path)}: {reason}") from None
        raise InputError(f"{display_path(path)}: cannot read: {reason}") from None
    state.files_read.append(resolved)
    origin_file = display_path(path)
    for lineno, line in _logical_lines(text):
        where = Origin(origin_file, lineno)
        try:
            _parse_line(line, where, path.parent, state, constraint, (*stack, resolved))
        except (OSError, ValueError) as exc:
            # A path the line names that the OS refuses (NUL byte, name too long, ...).
            why = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else str(exc)
            raise InputError(f"{where}: {shown(why)[1:-1]}") from None


def _strip_comment(line: str) -> str:
    """The line before a '#' that starts it or follows whitespace (pip's rule), found in
    one pass: a pattern such as ``\\s+#`` backtracks over long runs of blanks."""
    start = 0
    while (found := line.find("#", start)) >= 0:
        if found == 0 or line[found - 1].isspace():
            return line[:found].rstrip()
        start = found + 1
    return line


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with comments removed, continuations joined and ${VAR} expanded."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = _strip_comment(raw) if not pending or "#" in raw else raw
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), " ".join(pending))
        pending = []
        if joined.strip():
            yield start, joined.strip()
    if pending and " ".join(pending).strip():
        yield start, " ".join(pending).strip()


_OPTION_ALIASES = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "-f": "--find-links",
}
_VALUE_OPTIONS = {
    "--requirement",
    "--constraint",
    "--editable",
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--only-binary",
    "--no-binary",
    "--trusted-host",
}
_FLAG_OPTIONS = {"--no-index", "--pre", "--prefer-binary"}


def _parse_line(
    line: str,
    origin: Origin,
    base: Path,
    state: _State,
    constraint: bool,
    stack: tuple[Path, ...],
) -> None:
    if line.startswith("-"):
        _parse_option_line(line, origin, base, state, constraint, stack)
        return
    req_text, hashes = _split_requirement_options(line, origin)
    state_list = state.constraints if constraint else state.requirements
    item = _make_requirement(req_text, origin, base, constraint, editable=False)
    if hashes:
        if item.url is not None:
            raise InputError(f"{origin}: --hash on a direct reference or local path is not checked")
        item = replace(item, hashes=tuple(_checked_hash(h, origin) for h in hashes))
    state_list.append(item)


def _checked_hash(text: str, origin: Origin) -> str:
    """The hex digest of ``sha256:<hex>``: the algorithm the index's hashes use, so the
    only one lockbuild can check the locked files against."""
    algorithm, sep, digest = text.strip().partition(":")
    if not sep or not re.fullmatch(r"[0-9a-fA-F]+", digest):
        raise InputError(f"{origin}: invalid --hash {shown(text)}: expected sha256:<hex digest>")
    if algorithm != "sha256":
        raise InputError(
            f"{origin}: --hash {algorithm}:...: only sha256 hashes can be checked against the index"
        )
    if len(digest) != 64:
        raise InputError(f"{origin}: invalid --hash {shown(text)}: a sha256 has 64 hex digits")
    return digest.lower()


def _split_requirement_options(line: str, origin: Origin) -> tuple[str, list[str]]:
    """Split trailing per-requirement options (``--hash``) off a requirement line."""
    # Split before each "--" that follows whitespace; the lookbehind checks one character,
    # so long runs of blanks cost linear time.
    parts = [part.strip() for part in re.split(r"(?<=\s)(?=--)", line)]
    hashes: list[str] = []
    for opt in parts[1:]:
        key, _, value = opt.partition("=")
        if key.strip() == "--hash" or opt.startswith("--hash "):
            hashes.append(value or opt.split(None, 1)[-1])
        elif key.strip() in ("--config-settings", "--global-option", "--install-option"):
            continue
        else:
            raise InputError(f"{origin}: unknown option {shown(key.strip())} after a requirement")
    return parts[0].strip(), hashes


def _parse_option_line(
    line: str,
    origin: Origin,
    base: Path,
    state: _State,
    constraint: bool,
    stack: tuple[Path, ...],
) -> None:
    try:
        tokens = shlex.split(line, posix=True)
    except ValueError as exc:
        raise InputError(f"{origin}: cannot parse option line: {shown(str(exc))[1:-1]}") from None
    while tokens:
        token = tokens.pop(0)
        key, eq, value = token.partition("=")
        if not token.startswith("--") and len(token) > 2:  # -rfile.txt
            key, value, eq = token[:2], token[2:], "="
        key = _OPTION_ALIASES.get(key, key)
        if key in _FLAG_OPTIONS:
            if eq:
                raise InputError(f"{origin}: option {key} takes no value")
            _apply_flag(key, state)
            continue
        if key not in _VALUE_OPTIONS:
            raise InputError(f"{origin}: unknown option {shown(key)}")
        if not eq:
            if not tokens:
                raise InputError(f"{origin}: option {key} needs a value")
            value = tokens.pop(0)
        if key == "--editable":
            # Everything after -e is the requirement.
            rest = " ".join([value, *tokens])
            tokens = []
            target = state.constraints if constraint else state.requirements
            target.append(_make_requirement(rest, origin, base, constraint, editable=True))
        elif key in ("--requirement", "--constraint"):
            if re.match(r"[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
                raise InputError(
                    f"{origin}: {key} {shown(value)[1:-1]}: requirements files are read from "
                    "local paths only; download the file and name it"
                )
            include = Path(value) if Path(value).is_absolute() else base / value
            _parse_file(
                include,
                state,
                constraint=constraint or key == "--constraint",
                stack=stack,
                origin=origin,
            )
        else:
            _apply_value(key, value, base, state)


def _apply_flag(key: str, state: _State) -> None:
    if key == "--no-index":
        state.options = replace(state.options, no_index=True)
    elif key == "--pre":
        state.options = replace(state.options, pre=True)


def _apply_value(key: str, value: str, base: Path, state: _State) -> None:
    opts = state.options
    if key == "--index-url":
        state.options = replace(opts, index_url=value)
    elif key == "--extra-index-url":
        state.options = replace(opts, extra_index_urls=_unique((*opts.extra_index_urls, value)))
    elif key == "--find-links":
        link = value if "://" in value else str((base / value).resolve())
        state.options = replace(opts, find_links=_unique((*opts.find_links, link)))
    elif key == "--only-binary":
        state.options = replace(opts, only_binary=opts.only_binary | format_names(value))
    elif key == "--no-binary":
        state.options = replace(opts, no_binary=opts.no_binary | format_names(value))
    elif key == "--trusted-host":
        state.options = replace(opts, trusted_hosts=_unique((*opts.trusted_hosts, value)))


def format_names(value: str) -> frozenset[str]:
    names = set()
    for item in value.split(","):
        item = item.strip()
        if item in (":all:", ":none:"):
            names.add(item)
        elif item:
            names.add(canonicalize_name(item))
    if ":none:" in names:
        return frozenset()
    return frozenset(names)


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~"))
        or os.sep in text.split(";")[0]
        or text.endswith(_ARCHIVE_SUFFIXES)
    )


def _make_requirement(
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
        req = Requirement(text)
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


def _path_requirement(
    text: str,
    origin: Origin,
    base: Path,
    constraint: bool,
    editable: bool,
    name: Requirement | None = None,
) -> InputRequirement:
    """A local project directory or archive, named by reading its metadata later."""
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
        placeholder = f"{_placeholder_name(path)}{extras} @ {url}"
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


def _placeholder_name(path: Path) -> str:
    """A best guess at a local project's name, refined later from its metadata."""
    stem = path.name
    for suffix in _ARCHIVE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.split("-")[0] if path.is_file() else stem
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-._")
    return cleaned or "unnamed"


def _parse_project(
    path: Path, state: _State, extras: tuple[str, ...], all_extras: bool, groups: tuple[str, ...]
) -> None:
    """A project file as input: the project itself is a root whose metadata (read later,
    statically or through its build backend) gives the requirements."""
    if not path.exists():
        raise InputError(f"no such project file: {display_path(path)}")
    state.files_read.append(path.resolve())
    project_dir = path.resolve().parent
    origin = Origin(display_path(path))
    pyproject = project_dir / "pyproject.toml"
    data: dict[str, object] = {}
    if pyproject.exists():
        import tomllib

        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{display_path(pyproject)}: not valid TOML: {exc}") from None
        if pyproject.resolve() not in state.files_read:
            state.files_read.append(pyproject.resolve())
    wanted = {canonicalize_name(e) for e in extras}
    url = "file://" + pathname2url(str(project_dir))
    extra_text = f"[{','.join(sorted(wanted))}]" if wanted else ""
    placeholder = Requirement(f"{_placeholder_name(project_dir)}{extra_text} @ {url}")
    state.requirements.append(
        InputRequirement(
            placeholder,
            origin,
            url=url,
            path_text=str(project_dir),
            project=True,
            all_extras=all_extras,
        )
    )
    if groups:
        _parse_groups(pyproject, data, groups, origin, state)


def _parse_groups(
    pyproject: Path,
    data: dict[str, object],
    groups: tuple[str, ...],
    origin: Origin,
    state: _State,
) -> None:
    from dependency_groups import CyclicDependencyError, resolve

    table = data.get("dependency-groups")
    if not isinstance(table, dict):
        raise InputError(f"{display_path(pyproject)}: no [dependency-groups] table")
    for group in groups:
        if group not in table:
            known = ", ".join(sorted(table)) or "none"
            raise InputError(
                f"{display_path(pyproject)}: no dependency group {group!r} (known: {known})"
            )
        try:
            lines = resolve(table, group)
        except (CyclicDependencyError, LookupError, TypeError, ValueError) as exc:
            raise InputError(
                f"{display_path(pyproject)}: dependency group {group!r}: {exc}"
            ) from None
        for text in lines:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                raise InputError(
                    f"{display_path(pyproject)}: group {group!r}: invalid requirement {text!r}"
                ) from None
            label = f"{origin.file} (group {group})"
            state.requirements.append(InputRequirement(req, origin, url=req.url, label=label))
