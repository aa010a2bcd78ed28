"""Requirements files as pip reads them: comments, continuations and ``${VAR}``, option
lines (index options, ``-r``/``-c`` includes, ``-e``), ``--hash`` after a requirement;
``read_spec`` merges them with project inputs into one ``Spec``."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from lockbuild.cli.project import PROJECT_FILES, project_inputs
from lockbuild.cli.reqline import make_requirement
from lockbuild.errors import InputError
from lockbuild.indexopts import IndexOptions, OptionLineError, option_words, with_option
from lockbuild.spec import InputRequirement, Origin, Spec, display_path, shown

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class _Reading:
    """Where a line is read: the directory its paths are relative to, whether its file is
    a constraints file, and the files that include it (a cycle is an error)."""

    base: Path
    constraint: bool
    stack: tuple[Path, ...]


@dataclass
class _State:
    requirements: list[InputRequirement] = field(default_factory=list)
    constraints: list[InputRequirement] = field(default_factory=list)
    options: IndexOptions = field(default_factory=IndexOptions)
    files_read: list[Path] = field(default_factory=list)


def read_spec(
    sources: Iterable[Path],
    *,
    extras: Iterable[str] = (),
    all_extras: bool = False,
    groups: Iterable[str] = (),
    constraint_files: Iterable[Path] = (),
) -> Spec:
    """Parse and merge requirements files (following -r and -c includes) and project
    files (pyproject.toml, setup.py, setup.cfg: the project's own requirements);
    ``constraint_files`` are read as -c lines would be (--constraint)."""
    state = _State()
    paths = tuple(sources)
    extras, groups = tuple(extras), tuple(groups)
    if (extras or all_extras or groups) and not any(p.name in PROJECT_FILES for p in paths):
        raise InputError(
            "--extra, --all-extras and --group need a pyproject.toml or setup.py input"
        )
    for src in paths:
        if src.name in PROJECT_FILES:
            found, files = project_inputs(src, extras, all_extras, groups)
            state.requirements += found
            state.files_read += files
            continue
        _parse_file(src, state, constraint=False, stack=())
    for path in constraint_files:
        _parse_file(path, state, constraint=True, stack=())
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
            _parse_line(line, where, _Reading(path.parent, constraint, (*stack, resolved)), state)
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


def _parse_line(line: str, origin: Origin, reading: _Reading, state: _State) -> None:
    if line.startswith("-"):
        _parse_option_line(line, origin, reading, state)
        return
    req_text, hashes = _split_requirement_options(line, origin)
    state_list = state.constraints if reading.constraint else state.requirements
    item = make_requirement(req_text, origin, reading.base, reading.constraint, editable=False)
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


def _parse_option_line(line: str, origin: Origin, reading: _Reading, state: _State) -> None:
    try:
        words = list(option_words(line))
    except OptionLineError as exc:
        raise InputError(f"{origin}: {exc}") from None
    for word in words:
        value = word.value or ""
        if word.key == "--editable":
            # Everything after -e is the requirement.
            rest = " ".join([value, *word.rest])
            target = state.constraints if reading.constraint else state.requirements
            target.append(
                make_requirement(rest, origin, reading.base, reading.constraint, editable=True)
            )
        elif word.key in ("--requirement", "--constraint"):
            if re.match(r"[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
                raise InputError(
                    f"{origin}: {word.key} {shown(value)[1:-1]}: requirements files are read "
                    "from local paths only; download the file and name it"
                )
            include = Path(value) if Path(value).is_absolute() else reading.base / value
            _parse_file(
                include,
                state,
                constraint=reading.constraint or word.key == "--constraint",
                stack=reading.stack,
                origin=origin,
            )
        else:
            state.options = with_option(state.options, word, reading.base)
