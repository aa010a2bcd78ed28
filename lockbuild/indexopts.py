"""Index options, the one place they change form: the value (``IndexOptions`` with its
index strategy), option lines read and written (a requirements file's and a lockfile's
header share one reader), and what they become for an installer — pip's arguments or
environment, uv's arguments or environment. Nothing else turns index options into
``PIP_*``/``UV_*`` variables or ``--index-url`` words."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.credentials import unredacted
from lockbuild.errors import shown

# uv's names for how several indexes are searched. pip always takes the best match
# across every index; uv by default takes only the first index that lists a project
# (extra indexes before the index URL), against dependency confusion.
BEST_MATCH = "unsafe-best-match"
FIRST_INDEX = "first-index"
STRATEGIES = (FIRST_INDEX, BEST_MATCH)
DEFAULT_STRATEGY = BEST_MATCH  # pip's and pip-compile's behaviour


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
    strategy: str = DEFAULT_STRATEGY
    # pip's default index, asked once where it is needed (compile): the index when none
    # is given, and the one option lines leave out. Empty: not asked.
    default_index: str = ""

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
            strategy=other.strategy if other.strategy != DEFAULT_STRATEGY else self.strategy,
            default_index=other.default_index or self.default_index,
        )

    def binary_allowed(self, name: NormalizedName) -> bool:
        return not _format_listed(self.no_binary, self.only_binary, name)

    def source_allowed(self, name: NormalizedName) -> bool:
        return not _format_listed(self.only_binary, self.no_binary, name)

    def with_default_index(self, default: str) -> IndexOptions:
        """These options with pip's default index named (so that an environment made
        with them looks where the lock looked, whatever its installer's own default)."""
        if self.no_index or self.index_url is not None:
            return self
        return replace(self, index_url=default)

    def search_order(self, default: str) -> tuple[str, ...]:
        """The index URLs in the order a resolution asks them: as given for a best match
        (every index is read anyway), and uv's order for first-index — extra indexes
        first, in the order given, then the index URL."""
        if self.no_index:
            return ()
        primary = self.index_url or default
        if self.strategy == FIRST_INDEX:
            return (*self.extra_index_urls, primary)
        return (primary, *self.extra_index_urls)

    def several_indexes(self) -> bool:
        return not self.no_index and bool(self.extra_index_urls)


def _format_listed(listed: frozenset[str], other: frozenset[str], name: str) -> bool:
    """Whether ``name`` is excluded by ``listed`` (pip's --no-binary/--only-binary rule)."""
    if name in listed:
        return True
    if name in other:
        return False
    return ":all:" in listed and ":all:" not in other


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def format_names(value: str) -> frozenset[str]:
    """The projects of an ``--only-binary``/``--no-binary`` value (``:all:``, ``:none:``)."""
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


def checked_strategy(value: str) -> str:
    """An ``--index-strategy`` value, or ValueError naming the choices."""
    if value in STRATEGIES:
        return value
    if value == "unsafe-first-match":
        raise ValueError(
            "--index-strategy unsafe-first-match is not supported: choose first-index "
            "(only the first index listing a project) or unsafe-best-match (every index)"
        )
    raise ValueError(f"--index-strategy {value!r}: choose one of {', '.join(STRATEGIES)}")


# ------------------------------------------------------------------ option lines

ALIASES = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "-f": "--find-links",
}
INDEX_VALUE_OPTIONS = frozenset(
    {"--index-url", "--extra-index-url", "--find-links", "--only-binary", "--no-binary"}
    | {"--trusted-host"}
)
VALUE_OPTIONS = INDEX_VALUE_OPTIONS | {"--requirement", "--constraint", "--editable"}
FLAG_OPTIONS = frozenset({"--no-index", "--pre", "--prefer-binary"})


class OptionLineError(ValueError):
    """An option line that cannot be read; the message names what is wrong."""


@dataclass(frozen=True)
class OptionWord:
    """One option of an option line: its long name and value (None for a flag).
    ``rest`` is what follows ``--editable``'s value (all of it is the requirement)."""

    key: str
    value: str | None
    rest: tuple[str, ...] = field(default=())


def option_words(line: str) -> Iterator[OptionWord]:
    """The options of one option line as pip reads them (``-i URL``, ``--index-url=URL``,
    ``-rfile.txt``), long names only; raises OptionLineError."""
    try:
        tokens = shlex.split(line, posix=True)
    except ValueError as exc:
        raise OptionLineError(f"cannot parse option line: {exc}") from None
    while tokens:
        token = tokens.pop(0)
        key, eq, value = token.partition("=")
        if not token.startswith("--") and len(token) > 2:  # -rfile.txt
            key, value, eq = token[:2], token[2:], "="
        key = ALIASES.get(key, key)
        if key in FLAG_OPTIONS:
            if eq:
                raise OptionLineError(f"option {key} takes no value")
            yield OptionWord(key, None)
            continue
        if key not in VALUE_OPTIONS:
            raise OptionLineError(f"unknown option {shown(key)}")
        if not eq:
            if not tokens:
                raise OptionLineError(f"option {key} needs a value")
            value = tokens.pop(0)
        if key == "--editable":
            rest, tokens = tuple(tokens), []
            yield OptionWord(key, value, rest)
        else:
            yield OptionWord(key, value)


def with_option(options: IndexOptions, word: OptionWord, base: Path) -> IndexOptions:
    """``options`` with one index option of a line laid over them; relative find-links
    paths are taken from ``base`` (the file's directory). Other options leave them as
    they are (includes and requirements are the reader's)."""
    key, value = word.key, word.value or ""
    if key == "--no-index":
        return replace(options, no_index=True)
    if key == "--pre":
        return replace(options, pre=True)
    if key == "--index-url":
        return replace(options, index_url=value)
    if key == "--extra-index-url":
        layer = IndexOptions(extra_index_urls=(value,))
    elif key == "--find-links":
        link = value if "://" in value else str((base / value).resolve())
        layer = IndexOptions(find_links=(link,))
    elif key == "--only-binary":
        layer = IndexOptions(only_binary=format_names(value))
    elif key == "--no-binary":
        layer = IndexOptions(no_binary=format_names(value))
    elif key == "--trusted-host":
        layer = IndexOptions(trusted_hosts=(value,))
    else:
        return options
    return options.merged(layer)


def read_option_lines(
    lines: Iterable[str], base: Path, *, strategy: str | None = None
) -> IndexOptions:
    """The index options a lockfile recorded before its pins (written by
    ``option_lines``), with the strategy its header names; credentials ``redact`` hid are
    left for keyring or netrc. Raises OptionLineError naming the line."""
    try:
        options = IndexOptions(strategy=checked_strategy(strategy or DEFAULT_STRATEGY))
    except ValueError as exc:
        raise OptionLineError(str(exc)) from None
    for line in lines:
        try:
            for word in option_words(line):
                if word.key in INDEX_VALUE_OPTIONS or word.key in FLAG_OPTIONS:
                    options = with_option(options, word, base)
        except OptionLineError as exc:
            raise OptionLineError(f"{shown(line)}: {exc}") from None
    return replace(
        options,
        index_url=unredacted(options.index_url) if options.index_url else None,
        extra_index_urls=tuple(unredacted(u) for u in options.extra_index_urls),
        find_links=tuple(unredacted(f) for f in options.find_links),
    )


def option_lines(options: IndexOptions, out_dir: Path) -> tuple[str, ...]:
    """The option lines a pip-compile user expects at the top of a lockfile (the index
    URL only when it is not pip's default); local find-links inside ``out_dir`` are
    written relative to it, as pip reads them relative to the requirements file."""
    lines: list[str] = []
    default = options.default_index.rstrip("/")
    if options.no_index:
        lines.append("--no-index")
    elif options.index_url and options.index_url.rstrip("/") != default:
        lines.append(f"--index-url {options.index_url}")
    if not options.no_index:
        lines += [f"--extra-index-url {u}" for u in options.extra_index_urls]
    for link in options.find_links:
        lines.append(f"--find-links {relative_location(link, out_dir)}")
    lines += [f"--trusted-host {h}" for h in options.trusted_hosts]
    # pip-compile's order (pip reads them first to last): :all: first, then one line
    # per name.
    if ":all:" in options.no_binary:
        lines.append("--no-binary :all:")
    if ":all:" in options.only_binary:
        lines.append("--only-binary :all:")
    lines += [f"--no-binary {n}" for n in sorted(options.no_binary - {":all:"})]
    lines += [f"--only-binary {n}" for n in sorted(options.only_binary - {":all:"})]
    return tuple(lines)


def emitted(lines: Sequence[str], left_out: Collection[str]) -> tuple[str, ...]:
    """``lines`` less those of the options in ``left_out`` (pip-compile's --no-emit-*)."""
    return tuple(line for line in lines if line.split()[0] not in left_out)


def relative_location(link: str, out_dir: Path) -> str:
    """A local location inside ``out_dir`` relative to it; others as given."""
    if "://" in link:
        return link
    base = out_dir.resolve()
    try:
        return Path(link).resolve().relative_to(base).as_posix() or "."
    except ValueError:
        return link


def overridden(recorded: IndexOptions, given: IndexOptions) -> IndexOptions:
    """Each index flag ``given`` on sync's command line (index URL, extra index URLs,
    find links, --no-index) replaces what the lockfile recorded for it; an index URL on
    the command line also lifts a recorded --no-index."""
    result = recorded
    if given.index_url is not None:
        result = replace(result, index_url=given.index_url, no_index=False)
    if given.extra_index_urls:
        result = replace(result, extra_index_urls=given.extra_index_urls, no_index=False)
    if given.find_links:
        links = tuple(f if "://" in f else str(Path(f).resolve()) for f in given.find_links)
        result = replace(result, find_links=links)
    if given.no_index:
        result = replace(result, no_index=True)
    if given.trusted_hosts:  # added to those recorded, as pip adds them up
        hosts = tuple(dict.fromkeys((*result.trusted_hosts, *given.trusted_hosts)))
        result = replace(result, trusted_hosts=hosts)
    return result


# ------------------------------------------------------------- installer inputs


@dataclass(frozen=True)
class InstallerInputs:
    """Index options as one installer takes them: words for its command line and
    variables for its environment."""

    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def pip_inputs(
    options: IndexOptions, *, formats: bool = True, hide_urls: bool = False
) -> InstallerInputs:
    """What pip is given. ``hide_urls`` puts the index URLs and find-links in ``PIP_*``
    variables, set even when empty so that nothing of the machine's configuration adds
    to them (a token in a URL then shows in no process list). ``formats`` adds
    ``--only-binary``/``--no-binary`` (a download of wheels gives its own)."""
    argv: list[str] = []
    env: dict[str, str] = {}
    if hide_urls:
        if options.no_index:
            env["PIP_NO_INDEX"] = "1"
        else:
            if options.index_url:
                env["PIP_INDEX_URL"] = options.index_url
            env["PIP_EXTRA_INDEX_URL"] = " ".join(options.extra_index_urls)
        env["PIP_FIND_LINKS"] = " ".join(options.find_links)
        if options.trusted_hosts:
            env["PIP_TRUSTED_HOST"] = " ".join(options.trusted_hosts)
        if options.pre:
            env["PIP_PRE"] = "1"
    else:
        argv += _location_words(options)
    if formats:
        argv += _format_words(options)
    return InstallerInputs(tuple(argv), env)


def uv_inputs(
    options: IndexOptions, *, formats: bool = True, hide_urls: bool = False
) -> InstallerInputs:
    """What uv is given: the same places as pip, the index strategy the lock was
    resolved with (uv's own default is first-index), and pre-releases when allowed.
    ``hide_urls`` puts the index URLs in ``UV_*`` variables."""
    argv: list[str] = []
    env: dict[str, str] = {}
    if hide_urls:
        if options.no_index:
            argv.append("--no-index")
        else:
            if options.index_url:
                env["UV_INDEX_URL"] = options.index_url
            if options.extra_index_urls:
                env["UV_EXTRA_INDEX_URL"] = " ".join(options.extra_index_urls)
        for link in options.find_links:
            argv += ["--find-links", link]
        for host in options.trusted_hosts:
            argv += ["--trusted-host", host]
    else:
        argv += _location_words(options)
    # Always named: uv's default (first-index) or a UV_INDEX_STRATEGY in the
    # environment must not decide what the lock's resolution decided.
    argv += ["--index-strategy", options.strategy]
    if options.pre:
        argv += ["--prerelease", "allow"]
    if formats:
        argv += _format_words(options)
    return InstallerInputs(tuple(argv), env)


def uv_strategy_words(options: IndexOptions) -> tuple[str, ...]:
    """The words a plain ``uv pip install`` of a lock needs besides the lock's own option
    lines: uv's index strategy, when the lock names several indexes and was not
    resolved as uv's default (first-index) would."""
    if options.several_indexes() and options.strategy != FIRST_INDEX:
        return ("--index-strategy", options.strategy)
    return ()


def _location_words(options: IndexOptions) -> list[str]:
    """Where to look, as pip and uv both spell it on a command line."""
    words: list[str] = []
    if options.no_index:
        words.append("--no-index")
    else:
        if options.index_url:
            words += ["--index-url", options.index_url]
        for url in options.extra_index_urls:
            words += ["--extra-index-url", url]
    for link in options.find_links:
        words += ["--find-links", link]
    for host in options.trusted_hosts:
        words += ["--trusted-host", host]
    return words


def _format_words(options: IndexOptions) -> list[str]:
    words: list[str] = []
    if options.only_binary:
        words += ["--only-binary", ",".join(sorted(options.only_binary))]
    if options.no_binary:
        words += ["--no-binary", ",".join(sorted(options.no_binary))]
    return words
