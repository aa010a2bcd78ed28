"""The lock model: what a lock file of either format holds once read (pins with their
files, hashes and annotations, option lines, the lockbuild header values, the command) and
every field it holds with where it is, which is what the digests each file of a pair
records about the other are computed over. Both formats (lockfile.py, pylock.py) are
renderings of this model and read back into it; nothing here knows either format."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.errors import InputError
from lockbuild.indexopts import IndexOptions, OptionLineError, read_option_lines

# Re-exported: readers of a pair name it beside the files it digests.
from lockbuild.model import Candidate, FileRecord
from lockbuild.model import pins_digest as pins_digest
from lockbuild.spec import display_path

if TYPE_CHECKING:
    from lockbuild.target import Target


class Pin(Protocol):
    """A pinned release as the resolution gives it (``resolve.graph.Pin``)."""

    @property
    def name(self) -> NormalizedName: ...

    @property
    def version(self) -> str: ...

    @property
    def candidate(self) -> Candidate: ...


# The header values both formats carry (as "# key: value" lines or under [tool.lockbuild]).
LOCK_DIGEST = "lockbuild-lock-digest"
BUILD_DIGEST = "lockbuild-build-digest"
# Kept by a lock whose format has a text build file beside its build file (pylock).
BUILD_TEXT_DIGEST = "lockbuild-build-text-digest"
DIGESTS = (LOCK_DIGEST, BUILD_DIGEST, BUILD_TEXT_DIGEST)
INPUTS = "lockbuild-inputs"
TARGET = "lockbuild-target"
BUILD_HOOKS = "lockbuild-build-hooks"
NOTE_PREFIXES = ("held back (newest ",)  # pin annotations besides "via" (heldback.py)
EXCLUDE_NEWER = "lockbuild-exclude-newer"
# How several indexes were searched (uv's names); absent: unsafe-best-match, as pip does.
INDEX_STRATEGY = "lockbuild-index-strategy"
# A runtime pin below the newest release its inputs allow, with why (whynewer.py); in the
# lock's header, so the body stays what pip-compile writes.
HELD_BACK = "lockbuild-held-back"
# One line per pin built from an sdist on the target: "name==version filename sha256:hex".
SDIST = "lockbuild-sdist"
AS_OF_RELEASE = "lockbuild-build-deps-as-of-release"
HOST_HOOKS = "lockbuild-hooks-ran-on-this-host"
# --build-deps-for all: "name==version: reason" for each release installed from a wheel
# whose build requirements do not fit the lock (no build side for it in the build file).
NOT_BUILDABLE = "lockbuild-not-buildable"
# Builds whose requirements cannot take the shared build pins, each with its whole build
# environment: "name==version: tool==1.0, other==2.0" (sync and wheelhouse build it so).
SCOPED = "lockbuild-scoped"
# With --generate-hashes: "name==version sha256:hex ..." for each pin a scoped build takes
# at a version the build file does not pin (its hashes have no other place).
SCOPED_HASHES = "lockbuild-scoped-hashes"


# --- what compile renders --------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One pin and its annotations, as both formats write it."""

    pin: Pin
    via: tuple[str, ...]
    hashes: tuple[str, ...] = ()
    line: str = ""  # the requirement as written, when not plain name==version
    notes: tuple[str, ...] = ()  # comments written before "# via" ("held back ...")
    extras: tuple[str, ...] = ()  # the extras asked of it (written without --strip-extras)
    marker: str = ""  # a top-level requirement's marker (pip-compile writes it)


# pip-compile's "unsafe" packages: pinned in a section of their own at the end, or (with
# --no-allow-unsafe) only named there; --unsafe-package replaces the set.
UNSAFE_PACKAGES = frozenset({"setuptools", "distribute", "pip"})


@dataclass(frozen=True)
class TextStyle:
    """How pip-compile's output flags shape a text lockfile; the defaults are lockbuild's
    (extras stripped, unsafe packages pinned, annotations on lines of their own)."""

    strip_extras: bool = True
    annotate: bool = True
    annotation_style: str = "split"  # or "line": "name==1.0  # via a, b"
    allow_unsafe: bool = True
    unsafe: frozenset[str] = UNSAFE_PACKAGES


@dataclass(frozen=True)
class Header:
    """What both files of a pair record besides their pins."""

    command: str
    python: str
    target: str
    inputs: tuple[tuple[str, str], ...]  # (what, digest)
    options: tuple[str, ...]  # option lines (redacted), written before the pins
    build_hooks: bool = True
    exclude_newer: str | None = None  # the cut-off as written ("7 days" stays "7 days")
    sdists: tuple[str, ...] = ()  # SDIST lines: the pins sync builds from source
    as_of_release: bool = False
    # Dynamic build requirements a hook computed on this host for another target.
    host_hooks: tuple[str, ...] = ()
    # --build-deps-for all: releases installed from wheels whose build side does not fit.
    unbuildable: tuple[str, ...] = ()
    # The index strategy, written when the lock names several indexes or it is not the
    # default; ``uv_words`` are what a plain ``uv pip install`` of the pair needs for it.
    index_strategy: str | None = None
    uv_words: tuple[str, ...] = ()
    # "name version (newest X): reasons" of runtime pins held back (the lock only).
    held_back: tuple[str, ...] = ()
    # Builds in an environment of their own (SCOPED values), and their own pins' hashes.
    scoped: tuple[str, ...] = ()
    scoped_hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Locked:
    """A compile's result, before it is rendered in either format: the runtime entries,
    the build entries, what both headers record, and per-build data (``builds``: each
    sdist and the build pins it is built against; a later per-build table goes beside)."""

    header: Header
    lock_entries: tuple[Entry, ...]
    build_entries: tuple[Entry, ...]
    target: Target
    records: Mapping[str, FileRecord] = field(default_factory=dict)
    builds: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # The text lockfile's pip-compile output flags, and --newline's line ending (None:
    # each file keeps the one it has).
    style: TextStyle = field(default_factory=TextStyle)
    newline: str | None = None


# --- what a reader gives back ----------------------------------------------------------
@dataclass(frozen=True)
class LockedPin:
    name: NormalizedName
    version: str
    line: str  # the requirement text (without hashes)
    via: tuple[str, ...]
    hashes: tuple[str, ...] = ()
    lineno: int = 0
    notes: tuple[str, ...] = ()  # e.g. "held back (newest 2.0): ..."


class Field(NamedTuple):
    """One field of a lock file that shapes an install or a check, and where it is:
    ``where`` is "line N" in a text file and empty in a TOML file, whose ``text`` starts
    with its table and key (``packages[six].sdist.url = "..."``)."""

    where: str
    text: str

    @property
    def place(self) -> str:
        return self.where or self.text.partition(" = ")[0]


@dataclass
class LockedFile:
    """One file of a pair, read: the model both formats read back into."""

    path: Path
    pins: dict[NormalizedName, LockedPin] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)
    command: str = ""
    # Every field that shapes an install or a check, in file order: all but the digests
    # the file records of the other files of its pair.
    content: list[Field] = field(default_factory=list)

    def pin_pairs(self) -> list[tuple[str, str]]:
        return [(p.name, p.version) for p in self.pins.values()]

    def first(self, key: str) -> str | None:
        values = self.meta.get(key)
        return values[0] if values else None

    def index_options(self) -> IndexOptions:
        """The index options recorded before the pins and the strategy the header names;
        relative --find-links are taken from the lock file's directory."""
        try:
            return read_option_lines(
                self.options, self.path.parent, strategy=self.first(INDEX_STRATEGY)
            )
        except (OptionLineError, ValueError) as exc:
            raise InputError(f"{self.path}: {exc}") from None

    @property
    def targets(self) -> tuple[str, ...]:
        """The target lines (one in a lock of one target)."""
        return tuple(self.meta.get(TARGET, ()))

    @property
    def inputs(self) -> tuple[str, ...]:
        """The recorded inputs, ``what digest`` each."""
        return tuple(self.meta.get(INPUTS, ()))


def is_lockbuild_file(locked: LockedFile) -> bool:
    return TARGET in locked.meta


@dataclass(frozen=True)
class Via:
    """One ``# via`` annotation of a pin, read: ``parent`` requires it (``build``: for
    its build environment). ``kind`` says what the parent is: ``pin`` (a canonical
    project name pinned in the pair), ``input`` (``-r FILE`` or ``name (pyproject.toml)``),
    ``constraint`` (``-c FILE``) or ``override`` (a build override)."""

    parent: str
    build: bool
    kind: str


def parse_via(text: str) -> Via:
    """A ``# via`` entry as compile writes it (outputs.py)."""
    text = text.strip()
    if text == "build override":
        return Via(text, True, "override")
    if text.startswith("-c "):
        return Via(text[3:], False, "constraint")
    build = text.endswith("(build)")
    parent = text.removesuffix("(build)").strip() if build else text
    if parent.startswith("-r "):
        return Via(parent[3:], build, "input")
    if parent.endswith(")") and " (" in parent:
        return Via(parent, build, "input")  # a project input: "name (pyproject.toml)"
    return Via(canonicalize_name(parent), build, "pin")


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a lock file (a byte order mark ignored), or a one-line error
    naming it as ``what``."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from None


# --- the digests over the model ----------------------------------------------------------
_FINGERPRINT_CHARS = 8
# More changed fields than this (or most fields changed): the files are not one pair.
_MAX_NAMED = 3


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_CHARS]


def content_digest(locked: LockedFile) -> str:
    """The digest the other files of the pair record about ``locked``: every field, and
    one short fingerprint per field in order (which lets a check name the edited one).
    ``sha256:<hex> fields=<fp>,<fp>,...``"""
    texts = [f.text for f in locked.content]
    whole = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    return f"sha256:{whole} fields=" + ",".join(_fingerprint(t) for t in texts)


def _parse(recorded: str) -> tuple[str, list[str]] | None:
    whole, sep, prints = recorded.partition(" fields=")
    if not sep or not whole.startswith("sha256:"):
        return None
    return whole, [fp for fp in prints.split(",") if fp]


def _changed(locked: LockedFile, recorded: Sequence[str]) -> list[str]:
    """The fields of ``locked`` that differ from what was recorded, each named."""
    import difflib  # start-up speed: only a pair whose digests differ is explained

    current = [_fingerprint(f.text) for f in locked.content]
    name = display_path(locked.path)
    found: list[str] = []
    matcher = difflib.SequenceMatcher(None, list(recorded), current, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag in ("replace", "insert"):
            verb = "was edited" if tag == "replace" else "was added"
            for item in locked.content[j1:j2]:
                if item.where:
                    found.append(f"{name} {item.where} {verb} after compile: {item.text[:120]}")
                else:
                    found.append(f"{name}: {item.text[:120]} {verb} after compile")
        else:
            where = (
                f"before {locked.content[j1].place}" if j1 < len(locked.content) else "at the end"
            )
            unit = "line(s)" if locked.content and locked.content[0].where else "field(s)"
            found.append(f"{name}: {i2 - i1} {unit} removed after compile ({where})")
    return found


def file_problems(locked: LockedFile, recorded: str | None, other: LockedFile) -> list[str]:
    """Why ``locked`` is not the file whose digest ``other`` recorded (empty when it is)."""
    name, other_name = display_path(locked.path), display_path(other.path)
    if recorded is None:
        return [f"{other_name} records no digest of {name}: they are not one lockbuild pair"]
    parsed = _parse(recorded)
    if parsed is None:
        return [
            f"{other_name} was written by an older lockbuild whose digests do not cover "
            "every field: recompile"
        ]
    whole, fingerprints = parsed
    if content_digest(locked).partition(" ")[0] == whole:
        return []
    changed = _changed(locked, fingerprints)
    unchanged = len(locked.content) - len(changed)
    if not changed:
        return [f"{name} was changed after it was compiled with {other_name}"]
    if len(changed) > _MAX_NAMED and unchanged < len(changed):
        return [f"{name} and {other_name} were not compiled together"]
    return changed[:_MAX_NAMED] + (
        [f"{name}: and {len(changed) - _MAX_NAMED} more changed field(s)"]
        if len(changed) > _MAX_NAMED
        else []
    )
