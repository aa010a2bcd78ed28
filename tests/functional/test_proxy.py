"""A proxy named by the environment carries lockbuild's requests, as pip's would; NO_PROXY
sends them direct. A real forwarding proxy on loopback, a real index behind it. httpx
carries the proxied requests and only those: a run sent direct never imports it."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, pins, run, serving, write


class _Forward(BaseHTTPRequestHandler):
    """An HTTP proxy for plain-HTTP targets: the absolute URL of each GET is fetched and
    the answer passed back; every URL asked for is kept."""

    seen: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        target = urlsplit(self.path)
        conn = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        headers["Connection"] = "close"
        path = target.path + (f"?{target.query}" if target.query else "")
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        conn.close()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Forward", (_Forward,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}", seen


@pytest.mark.parametrize("bypass", [False, True])
def test_the_environment_proxy_carries_the_requests(
    tmp_path: Path, proxy: tuple[str, list[str]], bypass: bool
) -> None:
    proxy_url, seen = proxy
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.write()
    no_proxy = "127.0.0.1" if bypass else None
    env = isolated_env(
        tmp_path / "home",
        HTTP_PROXY=proxy_url,
        http_proxy=proxy_url,
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    write(tmp_path / "requirements.in", "alpha\n")
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, tmp_path / "cache")
        proc = run(
            [sys.executable, "-X", "importtime", "-m", "lockbuild", *args], env, cwd=tmp_path
        )
        assert ("GET", "/simple/beta/") in server.requests
        index = server.url
    assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert ("httpx" in imported) is not bypass
    if bypass:
        assert seen == []
    else:
        assert f"{index}alpha/" in seen
        assert f"{index}beta/" in seen


def test_a_socks_proxy_without_socksio_fails_in_one_line(tmp_path: Path) -> None:
    """httpx carries a SOCKS proxy only with its optional socksio package: without it the
    run stops in one line that says what to install, and writes nothing."""
    try:
        import socksio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("socksio is installed here: the proxy would be tried")
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("alpha", "1.0")
    idx.write()
    proxy_url = "socks5://127.0.0.1:9"
    env = isolated_env(
        tmp_path / "home", ALL_PROXY=proxy_url, all_proxy=proxy_url, NO_PROXY=None, no_proxy=None
    )
    write(tmp_path / "requirements.in", "alpha\n")
    with IndexServer(idx.root) as server:
        args = compile_args(server.url, tmp_path / "cache")
        proc = run([sys.executable, "-m", "lockbuild", *args], env, cwd=tmp_path, check=False)
        assert server.requests == []
    assert proc.returncode == 1
    assert proc.stderr == (
        f"lockbuild: error: proxy {proxy_url}: a SOCKS proxy needs the socksio package "
        "(pip install 'httpx[socks]')\n"
    )
    assert not (tmp_path / "requirements.txt").exists()
