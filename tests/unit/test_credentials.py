"""credentials: every way a URL's password or token could reach a message or a file is
redacted, and basic auth is sent as pip sends it (the URL's, then the host's last, then
netrc)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockbuild.credentials import (
    Credentials,
    holds_secret,
    netrc_credentials,
    redact,
    redact_text,
    unredacted,
    without_userinfo,
)
from lockbuild.index.net import Request

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://index.example/simple", "https://index.example/simple"),
        ("https://user:secret@index.example/simple", "https://user:****@index.example/simple"),
        ("https://token@index.example/simple", "https://****@index.example/simple"),
        ("https://user:@index.example/", "https://user:****@index.example/"),
        ("https://user:p%40ss@index.example:8443/x", "https://user:****@index.example:8443/x"),
        # the last @ ends the user info: a password holding an unescaped @ is all hidden
        ("https://user:a@b@index.example/", "https://user:****@index.example/"),
        ("file:///srv/wheels", "file:///srv/wheels"),
        ("http://u:p@[::1]:8080/simple", "http://u:****@[::1]:8080/simple"),
        ("https://index.example/simple?token=abc", "https://index.example/simple?token=abc"),
    ],
)
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected
    assert "secret" not in redact(url)
    assert redact(redact(url)) == redact(url)  # idempotent


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:****@index.example/simple", "https://user@index.example/simple"),
        ("https://****@index.example/simple", "https://index.example/simple"),
        # not written by redact: left alone
        ("https://user:secret@index.example/", "https://user:secret@index.example/"),
        ("https://user@index.example/", "https://user@index.example/"),
        ("https://index.example/", "https://index.example/"),
    ],
)
def test_unredacted(url: str, expected: str) -> None:
    assert unredacted(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:secret@index.example/simple", "https://index.example/simple"),
        ("https://token@index.example:8443/a/b", "https://index.example:8443/a/b"),
        ("https://index.example/simple", "https://index.example/simple"),
        ("file:///srv/wheels", "file:///srv/wheels"),
    ],
)
def test_without_userinfo(url: str, expected: str) -> None:
    assert without_userinfo(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no url here", "no url here"),
        (
            "cannot fetch https://u:secret@index.example/simple/foo/: 404",
            "cannot fetch https://u:****@index.example/simple/foo/: 404",
        ),
        (
            "--index-url https://t0k3n@a.example/simple --extra-index-url http://x:y@b.example/",
            "--index-url https://****@a.example/simple --extra-index-url http://x:****@b.example/",
        ),
        ("'https://u:p@h.example/x' quoted", "'https://u:****@h.example/x' quoted"),
        ('"git+https://u:p@h.example/r.git"', '"git+https://u:****@h.example/r.git"'),
        ("lockbuild compile --index-url=https://u:p@h.example/s", None),
    ],
)
def test_redact_text(text: str, expected: str | None) -> None:
    got = redact_text(text)
    if expected is not None:
        assert got == expected
    assert ":p@" not in got and "secret" not in got and "t0k3n" not in got


def _sent(auth: Credentials, url: str) -> str | None:
    sent: str | None = auth(Request("GET", url)).headers.get("Authorization")
    return sent


def test_credentials_of_the_url_then_of_the_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    auth = Credentials()
    assert _sent(auth, "https://index.example/simple/") is None
    other = Credentials()
    first = _sent(other, "https://user:pw@index.example/simple/")
    assert first == "Basic dXNlcjpwdw=="  # user:pw
    # the index's files on the same host and port are sent the same credentials
    assert _sent(other, "https://index.example/files/a.whl") == first
    assert _sent(other, "https://index.example:8443/files/a.whl") is None
    assert _sent(other, "http://index.example/files/a.whl") is None


def test_netrc_by_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rc = tmp_path / "netrc"
    rc.write_text("machine index.example login me password pw\nmachine other.example login x\n")
    rc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(rc))
    assert netrc_credentials("index.example") == ("me", "pw")
    assert netrc_credentials("other.example") == ("x", "")
    assert netrc_credentials("unknown.example") is None
    assert _sent(Credentials(), "https://index.example/simple/") == "Basic bWU6cHc="


@pytest.mark.parametrize(
    "content",
    ["not a netrc \x00 file", "machine", "macdef"],
)
def test_an_unreadable_netrc_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str
) -> None:
    rc = tmp_path / "netrc"
    rc.write_text(content)
    rc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(rc))
    assert netrc_credentials("index.example") is None


def test_no_netrc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    assert netrc_credentials("index.example") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pass@host/simple", True),
        ("https://token@host/simple", True),
        ('{"url": "HTTPS://u:p@host/x"}', True),
        ("see git+ssh://git@host/repo.git", True),
        ("https://****@host/simple", False),
        ("https://user:****@host/simple", False),
        ("https://host/simple/pkg/ mail@example.org", False),
        ("https://host/a@b", False),  # an @ in the path, not in the user info
        ("no url here", False),
        ("", False),
        ("x" * 100_000 + "https://u:p@h/", True),
        ("https://host/simple/" * 1000, False),  # URLs, no "@" anywhere
        ('"https://u:p\\u0040h/"', False),  # an escaped "@" is no user info
        ("@" + "https://u:p@h/", True),
    ],
)
def test_holds_secret(text: str, expected: bool) -> None:
    assert holds_secret(text) is expected


def _redact_text_by_regex(text: str) -> str:
    """What redact_text means, said as one regex substitution (its definition)."""
    return re.sub(r"[a-z][a-z0-9+.-]*://[^\s'\"]+", lambda m: redact(m.group(0)), text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "://",
        "x://",
        "a@b",
        "9http://u:p@h/ x",
        "HTTP://u:p@h/ and +.-a1+b://t@h",
        "://u:p@h http://u:p@h",
        "http://a/?next=https://u:p@h/x 'ftp://u:p@h'",
        "name @ https://u:p@h.example/a.whl#sha256=00 ; python_version < '3'",
        "http:// u:p@h https://",
        "svn+ssh://u@h/r@1 file:///tmp/x@y",
    ],
)
def test_redact_text_finds_what_the_regex_finds(text: str) -> None:
    assert redact_text(text) == _redact_text_by_regex(text)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["http", "s3", "9", "A", "+", ".", "-", "://", "@", "u:p@", "t@", ":"])
        | st.sampled_from([" ", "'", '"', "/", "h.example", "?x=", "\n", "é"]),
        max_size=24,
    ).map("".join)
)
def test_redact_text_agrees_with_the_regex_on_any_text(text: str) -> None:
    assert redact_text(text) == _redact_text_by_regex(text)
