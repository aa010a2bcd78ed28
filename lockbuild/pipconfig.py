"""pip's configuration as lockbuild reads it: the default index and the index options of
pip's configuration files and PIP_* variables (kept in the cache while unchanged)."""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

from .cache import Cache, sha256_hex
from .errors import FetchError
from .spec import IndexOptions

if TYPE_CHECKING:
    pass


def pip_default_index() -> str:
    """The index pip uses when none is configured, taken from pip itself."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError as exc:  # pragma: no cover - pip ships with every venv
        raise FetchError(
            "cannot find pip's default index (pip is not importable); pass --index-url"
        ) from exc
    return str(PyPI.simple_url)


# Where pip looks for its configuration depends on these (and on the PIP_* variables).
_PIP_CONFIG_ENV = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "VIRTUAL_ENV",
)


def _stat_signature(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        # A device (PIP_CONFIG_FILE=/dev/null): its times say nothing about its content.
        return [st.st_mode, st.st_rdev]
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def pip_config_options(cache: Cache | None = None) -> IndexOptions:
    """Index options from pip's configuration files and PIP_* variables, as pip reads them.

    pip's configuration code takes longer to import than a small lock takes to resolve, so
    the answer is kept in ``cache`` with the state of every file pip would read, and
    reused while none of them (nor pip, nor the environment) has changed."""
    try:
        import pip
    except ImportError:  # pragma: no cover
        return IndexOptions()
    situation = {
        "pip": pip.__version__,
        "prefix": sys.prefix,
        "platform": sys.platform,
        "env": sorted(
            (k, v) for k, v in os.environ.items() if k.startswith("PIP_") or k in _PIP_CONFIG_ENV
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
    opts, files = _read_pip_config()
    if cache is not None and files is not None:
        cache.put_json(
            "pip-config",
            key,
            {
                "files": [[path, _stat_signature(path)] for path in files],
                "options": {
                    "index_url": opts.index_url,
                    "extra_index_urls": list(opts.extra_index_urls),
                    "find_links": list(opts.find_links),
                    "no_index": opts.no_index,
                },
            },
        )
    return opts


def _read_pip_config() -> tuple[IndexOptions, list[str] | None]:
    """The options, and every file pip considered (None when pip cannot say)."""
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.exceptions import ConfigurationError
    except ImportError:  # pragma: no cover
        return IndexOptions(), None
    config = Configuration(isolated=False)
    try:
        config.load()
    except ConfigurationError as exc:
        raise FetchError(f"pip configuration: {exc}") from None
    files: list[str] | None
    try:
        files = sorted({path for _, paths in config.iter_config_files() for path in paths})
    except AttributeError:  # an older pip without iter_config_files
        files = None
    merged: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):  # newer pip: one dict per file, in precedence order
            merged.update(value)
        else:  # older pip: the merged key/value pairs
            merged[key] = value
    values: dict[str, str] = {}
    for section in ("global", "install", "download", ":env:"):  # later ones win
        for key, value in merged.items():
            scope, _, option = key.partition(".")
            if scope == section:
                values[option] = str(value)
    opts = IndexOptions(
        index_url=values.get("index-url") or None,
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(values.get("find-links", "").split()),
        no_index=values.get("no-index", "").lower() in ("1", "true", "yes", "on"),
    )
    return opts, files
