"""A loopback copy of the package index for the benchmark: record once, serve locally.

The server listens on 127.0.0.1 and answers GET and HEAD. In ``record`` mode an answer it
has not stored yet is fetched from the upstream index (pip's own default, never written
here) and stored whole on disk with its status and content type; in ``serve`` mode it
answers from the store only, and anything not recorded is a 404 that is counted as a
miss. Index pages have their absolute URLs rewritten to ``/files/<host>/<path>`` on this
server, so the files a page lists also come through it. A Range request is answered from
the stored whole file (206), so range reads of wheels work the same in both modes.

What the copy does not send, on purpose: cache validators (ETag, Last-Modified) and
Cache-Control, like the upstream index's pages (every warm run of every tool fetches
every page again), and compression (bytes cost nothing on loopback).

Usage on its own: ``python bench/mirror.py record|serve STORE_DIR [--port N]``. The
benchmark runs it as a process of its own (``MirrorProcess``), so that neither its memory
(which a forked tool would inherit into its peak until it execs) nor its CPU is counted
in any tool's figures; it switches modes and reads the counters through ``/-/bench/``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request
import zlib
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

RECORD = "record"
SERVE = "serve"

FILES_PREFIX = "/files/"
CONTROL_PREFIX = "/-/bench/"  # mode switch and counters, for the benchmark only
# Where a page's rewritten URLs point; replaced by this server's own origin when the page
# is sent, so that a store recorded on one port serves on any other.
ORIGIN_TOKEN = b"http://lockbuild-bench-mirror.invalid"
PAGE_TYPES = ("application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.v1+html")
ABSOLUTE_URL = re.compile(rb"https?://([A-Za-z0-9.-]+(?::[0-9]+)?)/")


def default_upstream() -> str:
    """The index pip uses when nothing is configured (pip's own constant)."""
    from pip._internal.models.index import PyPI

    return str(PyPI.simple_url)


def page_kind(accept: str) -> str:
    """Which representation a request asks for: the JSON or HTML simple API, or a file."""
    if "application/vnd.pypi.simple.v1+json" in accept:
        return "json"
    if "html" in accept:
        return "html"
    return ""


def is_page(content_type: str) -> bool:
    return content_type in PAGE_TYPES or content_type == "text/html"


@dataclass(frozen=True)
class Record:
    status: int
    content_type: str
    body_path: Path


@dataclass
class Stats:
    served: int = 0  # answered from the store
    recorded: int = 0  # fetched from the upstream index and stored
    misses: list[str] = field(default_factory=list)  # serve mode: not recorded (404)
    bytes_sent: int = 0

    def copy(self) -> Stats:
        return Stats(self.served, self.recorded, list(self.misses), self.bytes_sent)


class Store:
    """Answers on disk: ``<sha256 of path and kind>.json`` (status, content type) beside
    the body."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _name(self, path: str, kind: str) -> Path:
        digest = hashlib.sha256(f"{kind}\n{path}".encode()).hexdigest()
        return self.root / digest[:2] / digest

    def get(self, path: str, kind: str) -> Record | None:
        base = self._name(path, kind)
        try:
            meta = json.loads(base.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return None
        return Record(int(meta["status"]), str(meta["content_type"]), base.with_suffix(".body"))

    def put(self, path: str, kind: str, status: int, content_type: str, body: bytes) -> Record:
        base = self._name(path, kind)
        base.parent.mkdir(exist_ok=True)
        tmp = base.with_suffix(f".tmp{threading.get_ident()}")
        tmp.write_bytes(body)
        os.replace(tmp, base.with_suffix(".body"))
        meta = {"path": path, "kind": kind, "status": status, "content_type": content_type}
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, base.with_suffix(".json"))  # last: a record is whole or absent
        return Record(status, content_type, base.with_suffix(".body"))


class Upstream:
    """GETs from the upstream index and the hosts its pages link to, over one kept-alive
    connection per host and thread; redirects followed here."""

    def __init__(self, index_url: str) -> None:
        parts = urlsplit(index_url)
        self.scheme = parts.scheme
        self.host = parts.netloc
        self.local = threading.local()
        self.context = ssl.create_default_context()

    def url_for(self, path: str) -> str:
        if path.startswith(FILES_PREFIX):
            host, _, rest = path[len(FILES_PREFIX) :].partition("/")
            return f"https://{host}/{rest}"
        return f"{self.scheme}://{self.host}{path}"

    def _connection(self, scheme: str, host: str) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str], http.client.HTTPConnection]
        conns = self.local.__dict__.setdefault("conns", {})
        conn = conns.get((scheme, host))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(host, timeout=120, context=self.context)
            else:
                conn = http.client.HTTPConnection(host, timeout=120)
            conns[(scheme, host)] = conn
        return conn

    def get(self, path: str, accept: str) -> tuple[int, str, bytes]:
        url = self.url_for(path)
        for _ in range(6):
            parts = urlsplit(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            headers = {"Accept-Encoding": "gzip", "User-Agent": "lockbuild-bench-mirror"}
            if accept:
                headers["Accept"] = accept
            status, location, content_type, body = self._once(
                parts.scheme, parts.netloc, target, headers
            )
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return status, content_type, body
        raise OSError(f"too many redirects from {self.url_for(path)}")

    def _once(
        self, scheme: str, host: str, target: str, headers: dict[str, str]
    ) -> tuple[int, str, str, bytes]:
        for attempt in range(3):
            conn = self._connection(scheme, host)
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                if attempt == 2:
                    raise
                continue
            encoding = (response.getheader("Content-Encoding") or "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
            return response.status, response.getheader("Location") or "", content_type, body
        raise AssertionError("unreachable")


def rewrite(body: bytes) -> bytes:
    """Absolute URLs of a page pointed at this server's /files/ route."""
    return ABSOLUTE_URL.sub(lambda m: ORIGIN_TOKEN + b"/files/" + m.group(1) + b"/", body)


class Mirror:
    """The server, its store and its counters; ``start`` runs it on a thread."""

    def __init__(self, store_dir: Path, mode: str, upstream: str | None = None) -> None:
        self.store = Store(store_dir)
        self.mode = mode
        self.upstream = Upstream(upstream or default_upstream())
        self.index_path = urlsplit(upstream or default_upstream()).path.rstrip("/") or ""
        self.stats = Stats()
        self.lock = threading.Lock()
        self.key_locks: dict[tuple[str, str], threading.Lock] = {}
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def index_url(self) -> str:
        """The index URL to give the tools (the upstream's path, on this server)."""
        return self.origin + self.index_path + "/"

    def start(self, port: int = 0) -> None:
        mirror = self

        class Handler(MirrorHandler):
            owner = mirror

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler, bind_and_activate=False)
        # uv opens dozens of connections at once: the default backlog of 5 would drop
        # SYNs and add a second-long retransmit to some of them.
        server.request_queue_size = 256
        server.daemon_threads = True
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def take_stats(self) -> Stats:
        """The counters since the last call, reset."""
        with self.lock:
            stats, self.stats = self.stats, Stats()
        return stats

    def lookup(self, path: str, accept: str) -> Record | None:
        kind = "" if path.startswith(FILES_PREFIX) else page_kind(accept)
        record = self.store.get(path, kind)
        if record is not None:
            with self.lock:
                self.stats.served += 1
            return record
        if self.mode != RECORD:
            with self.lock:
                self.stats.misses.append(path)
            return None
        with self.lock:
            key_lock = self.key_locks.setdefault((path, kind), threading.Lock())
        with key_lock:  # one upstream fetch per answer, however many ask at once
            record = self.store.get(path, kind)
            if record is not None:
                return record
            status, content_type, body = self.upstream.get(path, accept)
            if status == 200 and is_page(content_type):
                body = rewrite(body)
            if status != 200:
                body = b""
            record = self.store.put(path, kind, status, content_type, body)
        with self.lock:
            self.stats.recorded += 1
        return record


class MirrorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: Mirror

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: the counters say what happened

    def do_HEAD(self) -> None:  # noqa: N802
        self.answer(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self.answer(head=False)

    def answer(self, head: bool) -> None:
        if self.path.startswith(CONTROL_PREFIX):
            self.control(self.path[len(CONTROL_PREFIX) :])
            return
        try:
            record = self.owner.lookup(self.path, self.headers.get("Accept", ""))
        except Exception as exc:  # an upstream failure while recording: the client retries
            self.send_error(503, f"upstream: {exc}")  # 503: every client retries it
            return
        if record is None or record.status != 200:
            status = 404 if record is None else record.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if is_page(record.content_type):
            body = record.body_path.read_bytes().replace(ORIGIN_TOKEN, self.owner.origin.encode())
            self.send_body(200, record.content_type, body, None, head)
            return
        size = record.body_path.stat().st_size
        first, last = 0, size - 1
        status = 200
        wanted = parse_range(self.headers.get("Range", ""), size)
        if isinstance(wanted, str):  # unsatisfiable
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if wanted is not None:
            first, last = wanted[0], wanted[1]
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", record.content_type or "application/octet-stream")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if head:
            return
        with open(record.body_path, "rb") as f:
            self.wfile.flush()
            self.connection.sendfile(f, first, last - first + 1)
        with self.owner.lock:
            self.owner.stats.bytes_sent += last - first + 1

    def control(self, command: str) -> None:
        if command in (f"mode/{RECORD}", f"mode/{SERVE}"):
            self.owner.mode = command.split("/")[1]
            body = b"{}"
        elif command == "stats":
            body = json.dumps(asdict(self.owner.take_stats())).encode()
        else:
            self.send_body(404, "text/plain", b"unknown control", None, False)
            return
        self.send_body(200, "application/json", body, None, False)

    def send_body(
        self, status: int, content_type: str, body: bytes, extra: str | None, head: bool
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
            with self.owner.lock:
                self.owner.stats.bytes_sent += len(body)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) of a single ``bytes=`` range, "unsatisfiable", or None for the whole
    file (no header, or a form this server does not split, such as several ranges)."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or not (match.group(1) or match.group(2)):
        return None
    if not match.group(1):  # the last N bytes
        n = int(match.group(2))
        if n == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        return "unsatisfiable"
    return first, min(last, size - 1)


class MirrorProcess:
    """A mirror in a process of its own, driven from the benchmark: the same ``mode``,
    ``take_stats``, ``origin`` and ``index_url`` as ``Mirror``."""

    def __init__(self, store_dir: Path, mode: str) -> None:
        self.root = store_dir
        self._mode = mode
        self.proc: subprocess.Popen[bytes] | None = None
        self.origin = ""
        self.index_url = ""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self._mode, str(self.root), "--watch-stdin"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        match = re.search(r"index URL (\S+)", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"the loopback copy did not start: {line!r}")
        self.index_url = match.group(1)
        parts = urlsplit(self.index_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def _control(self, command: str) -> bytes:
        with urllib.request.urlopen(self.origin + CONTROL_PREFIX + command, timeout=30) as r:
            body: bytes = r.read()
            return body

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._control(f"mode/{value}")
        self._mode = value

    def take_stats(self) -> Stats:
        data = json.loads(self._control("stats"))
        return Stats(data["served"], data["recorded"], data["misses"], data["bytes_sent"])

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the mirror exits when its stdin ends
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def store_size(store_dir: Path) -> tuple[int, int]:
    """(answers, bytes) held by a store."""
    count = total = 0
    for path in store_dir.rglob("*.body"):
        count += 1
        total += path.stat().st_size
    return count, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=(RECORD, SERVE))
    parser.add_argument("store", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--clear", action="store_true", help="empty the store first")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when standard input ends")
    args = parser.parse_args(argv)
    if args.clear:
        shutil.rmtree(args.store, ignore_errors=True)
    mirror = Mirror(args.store, args.mode)
    mirror.start(args.port)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Started in the background, a shell ignores SIGINT in its children: TERM stops it too.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.watch_stdin:

        def watch() -> None:
            sys.stdin.buffer.read()
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True).start()
    print(f"{args.mode}: index URL {mirror.index_url}", flush=True)
    try:
        assert mirror.thread is not None
        mirror.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        mirror.stop()
        stats = mirror.take_stats()
        if not args.watch_stdin:  # the benchmark reads the counters itself
            print(
                f"served {stats.served}, recorded {stats.recorded}, missed {len(stats.misses)}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
