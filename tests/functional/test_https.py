"""An index over HTTPS: a certificate trusted through SSL_CERT_FILE or PIP_CERT (PIP_CERT
first, as pip) locks; one not trusted fails in one line naming it, the certificate checked
against the host name. A real TLS server on loopback with a certificate made by openssl for
this test."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, isolated_env
from tests.helpers import compile_args, lockbuild, pins, serving, write

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


class _Quiet(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive connections, as an index keeps them

    def log_message(self, format: str, *args: object) -> None:
        pass


def _certificate(where: Path, name: str) -> tuple[Path, Path]:
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    idx = FixtureIndex(tmp_path / "index")
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.write()
    cert, key = _certificate(tmp_path, "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(idx.root)))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield f"https://localhost:{server.server_address[1]}/simple/", cert


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "PIP_CERT"])
def test_an_https_index_with_a_trusted_certificate_locks(
    tmp_path: Path, https_index: tuple[str, Path], variable: str
) -> None:
    url, cert = https_index
    # This machine trusts its own bundle through both; the other is left out.
    other = "PIP_CERT" if variable == "SSL_CERT_FILE" else "SSL_CERT_FILE"
    env = isolated_env(tmp_path / "home", **{variable: str(cert), other: None})
    write(tmp_path / "requirements.in", "alpha\n")
    lockbuild(compile_args(url, tmp_path / "cache"), env, tmp_path)
    assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}


@pytest.mark.parametrize("given", ["PIP_CERT", "--cert"])
def test_pips_certificate_comes_before_ssl_cert_file(
    tmp_path: Path, https_index: tuple[str, Path], given: str
) -> None:
    """pip's order: the bundle given to pip (--cert, PIP_CERT) is the one trusted, even
    where SSL_CERT_FILE names another (here one that does not trust the index)."""
    url, cert = https_index
    (tmp_path / "elsewhere").mkdir()
    other, _ = _certificate(tmp_path / "elsewhere", "elsewhere")
    env = isolated_env(
        tmp_path / "home",
        LOCKBUILD_RETRIES="1",
        SSL_CERT_FILE=str(other),
        PIP_CERT=str(cert) if given == "PIP_CERT" else None,
    )
    write(tmp_path / "requirements.in", "alpha\n")
    args = compile_args(url, tmp_path / "cache")
    if given == "--cert":
        args += ["--cert", str(cert)]
    lockbuild(args, env, tmp_path)
    assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}


def test_an_untrusted_certificate_fails_in_one_line(
    tmp_path: Path, https_index: tuple[str, Path]
) -> None:
    url, _ = https_index
    env = isolated_env(tmp_path / "home", LOCKBUILD_RETRIES="1")
    write(tmp_path / "requirements.in", "alpha\n")
    proc = lockbuild(compile_args(url, tmp_path / "cache"), env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"lockbuild: error: {url}alpha/: TLS certificate not trusted")
    assert proc.stderr.count("\n") == 1


def test_a_certificate_for_another_name_is_refused(
    tmp_path: Path, https_index: tuple[str, Path]
) -> None:
    url, cert = https_index
    by_address = url.replace("localhost", "127.0.0.1")
    env = isolated_env(tmp_path / "home", LOCKBUILD_RETRIES="1", SSL_CERT_FILE=str(cert))
    write(tmp_path / "requirements.in", "alpha\n")
    proc = lockbuild(compile_args(by_address, tmp_path / "cache"), env, tmp_path, check=False)
    assert proc.returncode == 1
    assert "TLS certificate not trusted" in proc.stderr
