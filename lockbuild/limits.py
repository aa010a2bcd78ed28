"""Limits that keep hostile or broken input from exhausting the machine, each overridable
by an environment variable (read when used, so tests and users can tighten them)."""

from __future__ import annotations

import os

from lockbuild.errors import UsageError

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 600.0
DEFAULT_RETRIES = 4
DEFAULT_MAX_PAGE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
DEFAULT_BUILD_TIMEOUT = 3600.0


def _env_number(name: str, default: float, *, integer: bool) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = -1
    if value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise UsageError(f"environment variable {name}: expected {kind}, got {text!r}")
    return value


def timeout() -> float:
    """Seconds to wait to connect, and between bytes of a response (LOCKBUILD_TIMEOUT)."""
    return _env_number("LOCKBUILD_TIMEOUT", DEFAULT_TIMEOUT, integer=False)


def deadline() -> float:
    """Seconds one response may take in all (LOCKBUILD_DEADLINE): a server that sends a
    byte now and then never trips the timeout between bytes."""
    return _env_number("LOCKBUILD_DEADLINE", DEFAULT_DEADLINE, integer=False)


def retries() -> int:
    """Attempts per request before a network fault is fatal (LOCKBUILD_RETRIES)."""
    return int(_env_number("LOCKBUILD_RETRIES", DEFAULT_RETRIES, integer=True))


def max_page_bytes() -> int:
    """The largest index page or metadata file accepted (LOCKBUILD_MAX_PAGE_BYTES)."""
    return int(_env_number("LOCKBUILD_MAX_PAGE_BYTES", DEFAULT_MAX_PAGE_BYTES, integer=True))


def max_unpacked_bytes() -> int:
    """The most bytes an sdist may decompress to (LOCKBUILD_MAX_UNPACKED_BYTES)."""
    return int(
        _env_number("LOCKBUILD_MAX_UNPACKED_BYTES", DEFAULT_MAX_UNPACKED_BYTES, integer=True)
    )


def build_timeout() -> float:
    """Seconds one step of a sync build (a backend's build_wheel) may take
    (LOCKBUILD_BUILD_TIMEOUT)."""
    return _env_number("LOCKBUILD_BUILD_TIMEOUT", DEFAULT_BUILD_TIMEOUT, integer=False)


DEFAULT_HOOK_TIMEOUT = 900.0


def hook_timeout() -> float:
    """Seconds one PEP 517 hook may run before its process group is killed and its
    release ruled out (LOCKBUILD_HOOK_TIMEOUT)."""
    return _env_number("LOCKBUILD_HOOK_TIMEOUT", DEFAULT_HOOK_TIMEOUT, integer=False)


HOOK_INSTALLERS = ("pip", "uv")


def hook_installer() -> str | None:
    """What fills hook environments (LOCKBUILD_HOOK_INSTALLER): "pip", "uv", or None for
    uv when it is at hand and pip otherwise."""
    text = os.environ.get("LOCKBUILD_HOOK_INSTALLER", "").strip().lower()
    if not text:
        return None
    if text not in HOOK_INSTALLERS:
        raise UsageError(
            f"environment variable LOCKBUILD_HOOK_INSTALLER: expected pip or uv, got {text!r}"
        )
    return text


def check_environment() -> None:
    """Read every LOCKBUILD_* setting once, so a malformed one fails before any work."""
    timeout()
    deadline()
    retries()
    max_page_bytes()
    max_unpacked_bytes()
    build_timeout()
    hook_timeout()
    hook_installer()
