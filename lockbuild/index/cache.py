"""On-disk cache: immutable artifacts keyed by sha256, index pages kept for revalidation."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lockbuild.atomic import write_atomic
from lockbuild.credentials import holds_secret, without_userinfo

_KEY = re.compile(r"[0-9a-f]{64}")


def default_cache_dir() -> Path:
    """The platform's cache directory for lockbuild (LOCKBUILD_CACHE_DIR overrides)."""
    env = os.environ.get("LOCKBUILD_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "lockbuild"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home())
        return Path(base) / "lockbuild" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lockbuild"


def _read_file(path: Path) -> bytes:
    """The bytes of ``path`` in three system calls (``Path.read_bytes`` makes six: it
    asks whether the file is a terminal and where its offset is)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        chunks = [os.read(fd, size)]
        got = len(chunks[0])
        while got < size:  # a read may return less than asked for (a very large file)
            chunk = os.read(fd, size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CachedPage:
    url: str
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    missing: bool = False  # the index answered 404: the project is not there
    # Until when the page may be used without asking the index (Cache-Control max-age).
    fresh_until: float | None = None
    body_key: str = ""  # where the body is kept (read lazily: see with_body)


class Cache:
    """A content-addressed store; every entry is checked against its hash when read.

    Entries are written atomically, so concurrent runs sharing a cache never see a
    half-written entry; a corrupted entry is treated as missing and fetched again.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, bucket: str, key: str) -> Path:
        assert self.root is not None
        # Keys are hex digests; anything else (e.g. a hostile index's "hash") must never
        # become a path, since reading an entry may delete it.
        if not _KEY.fullmatch(key):
            raise ValueError(f"invalid cache key {key!r}")
        # One directory per bucket: a cold lock writes a few hundred entries, and a
        # directory per first two hex digits made nearly every one of them make a
        # directory of its own too.
        return self.root / bucket / key

    def _read(self, bucket: str, key: str) -> tuple[bytes, Path] | None:
        """The bytes kept under ``key`` and where they are (None: absent), not yet
        checked. An entry where earlier versions kept it (``bucket/ab/abcd...``) is moved to
        where it is kept now, and checked the same way: a cache made before still serves,
        at the cost of one failed open per entry not found at all."""
        path = self._path(bucket, key)
        try:
            return _read_file(path), path
        except FileNotFoundError:
            pass
        legacy = path.parent / key[:2] / key
        try:
            data = _read_file(legacy)
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.replace(legacy, path)
            return data, path
        return data, legacy

    def get_blob(self, bucket: str, sha256: str) -> bytes | None:
        """Bytes whose sha256 is ``sha256``, or None when absent or corrupted."""
        if self.root is None:
            return None
        try:
            found = self._read(bucket, sha256)
        except (OSError, ValueError):
            return None
        if found is None:
            return None
        data, path = found
        if sha256_hex(data) != sha256:
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return data

    def put_blob(self, bucket: str, sha256: str, data: bytes) -> None:
        """Store ``data`` only when ``sha256`` really is its digest."""
        if self.root is None or sha256_hex(data) != sha256:
            return
        with contextlib.suppress(OSError):
            write_atomic(self._path(bucket, sha256), data)

    def get_keyed(self, bucket: str, key: str) -> bytes | None:
        """Bytes stored under ``key`` (a digest of what they were derived from), checked
        against the sha256 kept in front of them; None when absent or corrupted."""
        if self.root is None:
            return None
        try:
            found = self._read(bucket, key)
        except (OSError, ValueError):
            return None
        if found is None:
            return None
        data, path = found
        digest, payload = data[:64], data[64:]
        if digest != sha256_hex(payload).encode():
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return payload

    def put_keyed(self, bucket: str, key: str, payload: bytes) -> None:
        if self.root is None or not _KEY.fullmatch(key):
            return
        # Decoded (a copy) only when there is an "@" for user info to end with.
        if b"@" in payload and holds_secret(payload.decode("latin-1")):
            return
        with contextlib.suppress(OSError):
            write_atomic(self._path(bucket, key), sha256_hex(payload).encode() + payload)

    def get_json(self, bucket: str, key: str) -> Any:
        """A JSON record stored under ``key`` (itself derived from content hashes)."""
        if self.root is None or not _KEY.fullmatch(key):
            return None
        try:
            found = self._read(bucket, key)
        except OSError:
            return None
        if found is None:
            return None
        data, path = found
        try:
            wrapper = json.loads(data)
            payload = wrapper["payload"]
            if wrapper["check"] != sha256_hex(json.dumps(payload, sort_keys=True).encode()):
                raise ValueError("checksum mismatch")
            return payload
        except (ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def put_json(self, bucket: str, key: str, payload: Any) -> None:
        if self.root is None or not _KEY.fullmatch(key):
            return
        body = json.dumps(payload, sort_keys=True)
        # What json.dumps({"check": ..., "payload": payload}, sort_keys=True) writes, with
        # the payload encoded once (a wheel's METADATA is kept this way, escaped whole).
        text = f'{{"check": "{sha256_hex(body.encode())}", "payload": {body}}}'
        if holds_secret(text):
            # The one place a record leaves the process: a password or token in a URL
            # (pip's configuration read from PIP_INDEX_URL, say) is not kept, the record
            # with it is made again next run.
            return
        data = text.encode()
        with contextlib.suppress(OSError):
            write_atomic(self._path(bucket, key), data)

    def get_page(self, url: str, *, body: bool = True) -> CachedPage | None:
        """A kept page; with ``body=False`` only what revalidation needs (the body stays
        on disk until a 304 says it is current)."""
        record = self.get_json("pages", sha256_hex(url.encode()))
        if not isinstance(record, dict) or record.get("url") != without_userinfo(url):
            return None
        content = self.get_blob("page-bodies", record.get("body", "")) if body else b""
        if content is None:
            return None
        return CachedPage(
            url=url,
            body=content,
            body_key=str(record.get("body", "")),
            content_type=record.get("content_type", ""),
            etag=record.get("etag"),
            last_modified=record.get("last_modified"),
            missing=record.get("missing") is True,
            fresh_until=record.get("fresh_until")
            if isinstance(record.get("fresh_until"), (int, float))
            else None,
        )

    def with_body(self, page: CachedPage) -> CachedPage | None:
        """``page`` (read with ``body=False``) with its body; None if that is gone."""
        content = self.get_blob("page-bodies", page.body_key)
        return None if content is None else replace(page, body=content)

    def put_page(self, page: CachedPage) -> None:
        """Keep a page (or the fact that it is missing) for revalidation and --offline.

        Pages without ETag or Last-Modified are kept too: online runs always ask the index
        again (conditionally when they can), so only --offline ever reads such a page.
        """
        if self.root is None:
            return
        # A page made from a response carries its body's sha256 (computed once, by the
        # fetcher); one read from here does too (checked when its body was read).
        body_key = page.body_key or sha256_hex(page.body)
        path = self._path("page-bodies", body_key)
        if not path.exists():
            with contextlib.suppress(OSError):
                write_atomic(path, page.body)
        record = {
            "url": without_userinfo(page.url),  # no credentials on disk
            "body": body_key,
            "content_type": page.content_type,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "missing": page.missing,
            "fresh_until": page.fresh_until,
        }
        self.put_json("pages", sha256_hex(page.url.encode()), record)
