"""Run with ``python -I environment.py`` inside an interpreter lockbuild asks about
itself (the one ``lockbuild sync`` targets; a build environment read back after it was
filled; an interpreter whose wheel is kept in the wheelhouse): prints as JSON where it is,
whether it is a venv, its marker values (computed here without packaging, which the
target may lack) and every installed distribution with its requirements, direct URL and
lockbuild build record. Kept to what CPython 3.8 reads and has (importlib.metadata)."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from typing import Any


def _markers() -> dict[str, str]:
    info = sys.implementation.version
    impl = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        impl += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": impl,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _libc() -> str:
    """The C library family on Linux (what decides manylinux or musllinux wheels): "glibc"
    when glibc names itself, "musl" when the musl loader is there; "" elsewhere."""
    if not sys.platform.startswith("linux"):
        return ""
    try:
        if os.confstr("CS_GNU_LIBC_VERSION"):
            return "glibc"
    except (AttributeError, OSError, ValueError):
        pass
    import glob

    return "musl" if glob.glob("/lib/ld-musl-*") else ""


def _dists() -> list[dict[str, Any]]:
    dists: list[dict[str, Any]] = []
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        url = None
        try:
            text = dist.read_text("direct_url.json")
            if text:
                url = json.loads(text).get("url")
        except Exception:  # noqa: BLE001 - a broken record is no URL
            pass
        try:
            build = dist.read_text("lockbuild-build.json")
        except Exception:  # noqa: BLE001 - a broken record is no build record
            build = None
        dists.append(
            {
                "name": name,
                "version": dist.version,
                "requires": list(dist.requires or []),
                "url": url,
                "build": build,
            }
        )
    return dists


def main() -> None:
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    print(
        json.dumps(
            {
                "executable": sys.executable,
                "prefix": sys.prefix,
                "base_prefix": base_prefix,
                "venv": sys.prefix != base_prefix or hasattr(sys, "real_prefix"),
                "markers": _markers(),
                "libc": _libc(),
                "dists": _dists(),
            }
        )
    )


if __name__ == "__main__":
    main()
