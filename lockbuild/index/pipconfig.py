"""pip's configuration, read as pip's documentation describes it, without importing pip:
the files of each level (global, user, site, ``PIP_CONFIG_FILE``) in the order pip reads
them, ``PIP_*`` variables over them, a command's section over ``[global]``. compile takes
the index options from it (kept in the cache while unchanged), sync the constraint files
the target pip would add. pip's default index is read from the pip in use."""

from __future__ import annotations

import ast
import configparser
import json
import locale
import ntpath
import os
import posixpath
import re
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from urllib.parse import urljoin

from lockbuild.errors import FetchError, InputError
from lockbuild.index.cache import Cache, sha256_hex
from lockbuild.process import ProcessTimeout, run_captured
from lockbuild.spec import IndexOptions

# The sections a compile reads, later ones winning (pip-compile's pip runs both commands).
COMPILE_SECTIONS = ("global", "install", "download")
# Where pip looks for its files depends on these (and on PIP_CONFIG_FILE).
_LOCATION_ENV = ("HOME", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "APPDATA", "PROGRAMDATA")
# Values pip reads as true for a flag (its strtobool); anything else is false here.
_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
# PIP_VERSION and PIP_HELP are not options (pip ignores them too).
_NOT_OPTIONS = frozenset({"version", "help"})


@dataclass(frozen=True)
class Place:
    """Where pip's configuration is read: the variables, the interpreter running pip (its
    ``sys.prefix`` holds the site file) and the platform whose locations apply."""

    environ: Mapping[str, str]
    prefix: str
    platform: str = sys.platform
    home: str = ""  # the user's home directory (default: from environ, as pip finds it)

    @classmethod
    def here(cls, prefix: str | None = None) -> Place:
        """This process's environment, for the pip of ``prefix`` (default: this one's)."""
        return cls(os.environ, sys.prefix if prefix is None else prefix)

    def home_dir(self) -> str:
        if self.home:
            return self.home
        if self.platform == "win32":
            return self.environ.get("USERPROFILE") or os.path.expanduser("~")
        return self.environ.get("HOME") or os.path.expanduser("~")


@dataclass(frozen=True)
class PipConfig:
    """Merged ``section.option`` values of the files (each file over the ones read before
    it), and the ``PIP_*`` variables as ``:env:.option``."""

    values: Mapping[str, str]
    files: tuple[str, ...]  # every file pip would read, in order (existing or not)

    def get(self, option: str, sections: Sequence[str], *, variables: bool = True) -> str:
        """The value a pip command reading ``sections`` (later ones win) sees; ``PIP_*``
        variables over them unless ``variables`` is false. Empty values count as unset,
        as pip ignores them. "" when none is set."""
        found = ""
        for section in (*sections, *((":env:",) if variables else ())):
            value = self.values.get(f"{section}.{option}", "")
            if value:
                found = value
        return found


def config_files(place: Place, exists: Callable[[str], bool] = os.path.exists) -> tuple[str, ...]:
    """The files pip reads, in the order it reads them (each one's values override the
    ones read before): global, user (legacy, then current), site, then PIP_CONFIG_FILE.
    PIP_CONFIG_FILE set to the null device means no file at all; when it names a file that
    exists, the user files are skipped."""
    env = place.environ
    chosen = env.get("PIP_CONFIG_FILE", "")
    windows = place.platform == "win32"
    if chosen == (ntpath.devnull if windows else posixpath.devnull):
        return ()
    join = ntpath.join if windows else posixpath.join
    name = "pip.ini" if windows else "pip.conf"
    home = place.home_dir()
    if windows:
        global_dirs = [join(env.get("PROGRAMDATA") or "C:\\ProgramData", "pip")]
        user = [join(home, "pip", name), join(env.get("APPDATA") or home, "pip", name)]
    elif place.platform == "darwin":
        global_dirs = ["/Library/Application Support/pip"]
        current = join(home, "Library", "Application Support", "pip")
        if not exists(current):
            current = join(home, ".config", "pip")
        user = [join(home, ".pip", name), join(current, name)]
    else:
        dirs = env.get("XDG_CONFIG_DIRS", "").strip() or "/etc/xdg"
        global_dirs = [join(d, "pip") for d in dirs.split(":") if d] + ["/etc"]
        config_home = env.get("XDG_CONFIG_HOME", "").strip() or join(home, ".config")
        user = [join(home, ".pip", name), join(config_home, "pip", name)]
    files = [join(d, name) for d in global_dirs]
    if not (chosen and exists(chosen)):
        files += user
    files.append(join(place.prefix, name))
    if chosen:
        files.append(chosen)
    return tuple(files)


def parse_config(text: str, where: str) -> dict[str, str]:
    """``section.option`` -> value of one file, as pip reads it (an INI file without
    interpolation; names lower-cased, ``_`` read as ``-``, a leading ``--`` dropped)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=where)
    except configparser.Error as exc:
        raise InputError(f"{where}: pip configuration: {_one_line(exc)}") from None
    return {
        f"{section}.{_option_name(key)}": value
        for section in parser.sections()
        for key, value in parser.items(section)
    }


def _one_line(exc: configparser.Error) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: a setting before any [section]"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        lineno, shown = exc.errors[0]  # configparser keeps the line's repr
        try:
            line = str(ast.literal_eval(shown))
        except (ValueError, SyntaxError):
            line = shown
        return f"line {lineno}: not a setting: {line.strip()[:80]!r}"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: {exc.option!r} set twice in [{exc.section}]"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: [{exc.section}] given twice"
    return " ".join(str(exc).split())


def _option_name(key: str) -> str:
    return key.lower().replace("_", "-").removeprefix("--")


def variable_values(environ: Mapping[str, str]) -> dict[str, str]:
    """``PIP_*`` variables as pip reads them: ``PIP_INDEX_URL`` is ``:env:.index-url``."""
    return {
        f":env:.{name.replace('_', '-')}": value
        for key, value in environ.items()
        if key.startswith("PIP_") and (name := key[4:].lower()) not in _NOT_OPTIONS
    }


def read_config(
    place: Place,
    read: Callable[[str], str | None] | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> PipConfig:
    """pip's configuration at ``place``. ``read`` gives a file's text, None when there is
    no such file (default: the disk, in the encoding pip reads it in); ``exists`` says
    whether a path exists (for the choices pip makes on that)."""
    files = config_files(place, exists)
    values: dict[str, str] = {}
    for path in files:
        text = (read or _read_file)(path)
        if text is not None:
            values.update(parse_config(text, path))
    values.update(variable_values(place.environ))
    return PipConfig(values, files)


def _read_file(path: str) -> str | None:
    encoding = locale.getpreferredencoding(False)
    try:
        with open(path, encoding=encoding) as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except UnicodeDecodeError:
        raise InputError(f"{path}: pip configuration: not {encoding} text") from None
    except OSError as exc:
        raise InputError(f"{path}: pip configuration: {exc.strerror or exc}") from None


def index_options(config: PipConfig) -> IndexOptions:
    """The index locations a compile takes from pip's configuration."""

    def get(option: str) -> str:
        return config.get(option, COMPILE_SECTIONS)

    return IndexOptions(
        index_url=get("index-url") or None,
        extra_index_urls=tuple(get("extra-index-url").split()),
        find_links=tuple(get("find-links").split()),
        no_index=get("no-index").lower() in _TRUE,
    )


def configured_constraints(prefix: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Constraint files the configuration files of the pip in ``prefix`` name for
    ``pip install`` ([install] over [global]; the PIP_CONSTRAINT variable not included)."""
    config = read_config(Place(os.environ if environ is None else environ, prefix))
    return config.get("constraint", ("global", "install"), variables=False).split()


def _stat_signature(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        # A device (PIP_CONFIG_FILE=/dev/null) or a directory: its times say nothing of
        # its content; that it is there is what counts.
        return [st.st_mode, st.st_rdev]
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _watched(place: Place) -> list[str]:
    """Every path whose state decides what ``read_config`` reads: the files of every
    level whether or not pip would skip them now, and macOS's user directory."""
    candidates = set(config_files(place, exists=lambda path: False))
    candidates |= set(config_files(place, exists=lambda path: True))
    if place.platform == "darwin":
        candidates.add(posixpath.join(place.home_dir(), "Library", "Application Support", "pip"))
    return sorted(candidates)


def pip_config_options(cache: Cache | None = None, place: Place | None = None) -> IndexOptions:
    """Index options from pip's configuration files and PIP_* variables, as pip reads them.

    Kept in ``cache`` with the state of every file pip would read, and reused while none
    of them (nor the variables) has changed: reading a record is cheaper than the INI
    parser's import and the files."""
    where = Place.here() if place is None else place
    situation = {
        "prefix": where.prefix,
        "platform": where.platform,
        "home": where.home_dir(),
        "env": sorted(
            (k, v) for k, v in where.environ.items() if k.startswith("PIP_") or k in _LOCATION_ENV
        ),
    }
    key = sha256_hex(json.dumps(situation, sort_keys=True).encode())
    record = cache.get_json("pip-config", key) if cache is not None else None
    if isinstance(record, dict):
        try:
            if all(_stat_signature(path) == state for path, state in record["files"]):
                kept = record["options"]
                return IndexOptions(
                    index_url=kept["index_url"],
                    extra_index_urls=tuple(kept["extra_index_urls"]),
                    find_links=tuple(kept["find_links"]),
                    no_index=bool(kept["no_index"]),
                )
        except (KeyError, TypeError, ValueError):
            pass
    watched = _watched(where)
    states = [[path, _stat_signature(path)] for path in watched]
    opts = index_options(read_config(where))
    if cache is not None:
        cache.put_json(
            "pip-config",
            key,
            {
                "files": states,
                "options": {
                    "index_url": opts.index_url,
                    "extra_index_urls": list(opts.extra_index_urls),
                    "find_links": list(opts.find_links),
                    "no_index": opts.no_index,
                },
            },
        )
    return opts


# How pip's own source names the index it uses by default (``PyPI = PackageIndex(URL,
# ...)``, its simple API at URL + "simple"), and how its help text states the default.
# As text: compiled (and kept by the re module) only when pip is asked (start-up speed).
_SOURCE_DEFAULT = r"^PyPI\s*=\s*PackageIndex\(\s*(['\"])([^'\"\s]+)\1"
_HELP_DEFAULT = r"--index-url[^\n]*?\(default ([^\s()]+)\)"


def pip_default_index() -> str:
    """The index pip uses when none is configured, as the pip in lockbuild's environment
    states it: read from pip's installed source without importing pip (milliseconds), or,
    when that source has another shape, from ``pip download --help`` (pip's own words for
    its default, a subprocess)."""
    found = default_from_source(_pip_source())
    if found is None:
        found = default_from_help(_pip_help())
    if found is None:
        raise FetchError("cannot find pip's default index (is pip installed?); pass --index-url")
    return found


def default_from_source(text: str | None) -> str | None:
    """The default simple index a pip source file (``models/index.py``) defines."""
    match = re.search(_SOURCE_DEFAULT, text or "", re.MULTILINE)
    if match is None or not match.group(2).startswith(("https://", "http://")):
        return None
    return urljoin(match.group(2), "simple")


def default_from_help(text: str | None) -> str | None:
    """The default index ``pip download --help`` states."""
    match = re.search(_HELP_DEFAULT, " ".join((text or "").split()))
    return match.group(1) if match is not None else None


def _pip_source() -> str | None:
    try:
        spec = find_spec("pip")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "_internal", "models", "index.py")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _pip_help() -> str | None:
    """``pip download --help`` with no configuration (a configured index would be shown
    as the default) and wide lines (the URL stays on one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, COLUMNS="1000", PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        proc = run_captured(
            [sys.executable, "-m", "pip", "download", "--help"], env=env, timeout=120
        )
    except (OSError, ProcessTimeout):
        return None
    return proc.stdout if proc.returncode == 0 else None
