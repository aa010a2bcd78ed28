"""The installers sync drives, pip or uv: found for the target interpreter with their
version asked, their install and uninstall commands, the ways build constraints reach
their isolated builds (--build-constraint(s), or PIP_CONSTRAINT for an older pip), the
requirements they are given, and running them with their output streamed."""

from __future__ import annotations

import hashlib
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild import limits
from lockbuild.build.probe import tool_version
from lockbuild.build.uv import uv_commands
from lockbuild.errors import InstallError, UsageError
from lockbuild.index.cache import default_cache_dir
from lockbuild.indexopts import IndexOptions, pip_inputs, uv_inputs
from lockbuild.lock.model import LockedFile, LockedPin, pins_digest
from lockbuild.process import ProcessTimeout, run_streamed
from lockbuild.progress import InstallerProgress
from lockbuild.sync.buildjob import BuildResult

Log = Callable[[str], None]

# The first pip whose --build-constraint reaches isolated build environments.
PIP_BUILD_CONSTRAINT = Version("25.3")
INSTALLERS = ("pip", "uv")


@dataclass(frozen=True)
class Installer:
    """pip or uv, run against the target interpreter, with its detected version."""

    kind: str  # "pip" | "uv"
    argv: tuple[str, ...]  # how to run it: (python, -m, pip) or (uv,) / (python, -m, uv)
    version: Version
    python: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.version}"

    @property
    def route(self) -> str:
        """How the build constraints reach isolated builds."""
        if self.kind == "uv":
            return "--build-constraints"
        return "--build-constraint" if self.version >= PIP_BUILD_CONSTRAINT else "PIP_CONSTRAINT"

    def install_argv(self, requirements: Path, options: IndexOptions) -> list[str]:
        if self.kind == "uv":
            head = [*self.argv, "pip", "install", "--python", self.python]
            words = uv_inputs(options).argv
        else:
            head = [*self.argv, "install", "--disable-pip-version-check"]
            words = pip_inputs(options).argv
        return [*head, "--no-deps", *words, "-r", str(requirements)]

    def uninstall_argv(self, names: Sequence[str]) -> list[str]:
        if self.kind == "uv":
            return [*self.argv, "pip", "uninstall", "--python", self.python, *names]
        return [*self.argv, "uninstall", "--disable-pip-version-check", "-y", *names]


def find_installer(kind: str, python: str) -> Installer:
    """The target's own pip (``python -m pip``), or uv from PATH, beside lockbuild's
    interpreter, or ``python -m uv``; its version is asked, never assumed."""
    if kind == "pip":
        argv: tuple[str, ...] = (python, "-m", "pip")
        version = tool_version(argv, r"^pip (\S+)")
        if version is None:
            raise UsageError(
                f"{python} has no working pip ({python} -m pip --version failed); "
                "install pip there, or use --installer uv"
            )
        return Installer("pip", argv, version, python)
    if kind != "uv":
        raise UsageError(f"--installer {kind}: choose one of {', '.join(INSTALLERS)}")
    candidates = uv_commands(path_first=True, module=True)
    for argv in candidates:
        version = tool_version(argv, r"^uv (\S+)")
        if version is not None:
            return Installer("uv", argv, version, python)
    raise UsageError(
        "--installer uv: uv not found (looked on PATH, beside "
        f"{sys.executable} and for 'python -m uv'); install uv or use --installer pip"
    )


def constraint_env_value(ours: Path, existing_env: str | None, config: Sequence[str]) -> str:
    """PIP_CONSTRAINT joining the user's constraint files with ours (pip splits the
    variable on whitespace); an existing variable wins over the configuration files,
    as it does for pip."""
    existing = existing_env.split() if existing_env and existing_env.strip() else list(config)
    return " ".join([*existing, str(ours)])


def installer_cache_dir(kind: str, build: LockedFile) -> Path:
    """The installer's cache for one set of build pins, under lockbuild's cache."""
    digest = pins_digest(build.pin_pairs()).removeprefix("sha256:")[:16]
    return default_cache_dir() / "installers" / kind / digest


def hash_free_copy(build: LockedFile, dest: Path) -> Path:
    """The build file's pins without hashes or comments (for PIP_CONSTRAINT)."""
    lines = [pin.line for pin in build.pins.values()]
    dest.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return dest


def requirements_text(
    pins: Iterable[LockedPin], built: Mapping[NormalizedName, BuildResult] | None = None
) -> str:
    """Only the lines to install, with their hashes (pip checks all or none); a pin built
    into the wheelhouse is its wheel's path (with that wheel's hash when hashes are on)."""
    pins = list(pins)
    built = built or {}
    hashed = any(pin.hashes for pin in pins)
    out: list[str] = []
    for pin in pins:
        result = built.get(pin.name)
        if result is not None:
            digest = hashlib.sha256(result.wheel.read_bytes()).hexdigest()
            if result.sha256 and digest != result.sha256:
                raise InstallError(
                    f"{result.wheel}: changed in the wheelhouse after it was checked "
                    f"(sha256 {digest[:12]}…, was {result.sha256[:12]}…); run sync again"
                )
            out.append(f"{result.wheel} --hash=sha256:{digest}" if hashed else str(result.wheel))
            continue
        parts = [pin.line, *(f"--hash=sha256:{h}" for h in pin.hashes)]
        out.append(" ".join(parts))
    return "".join(f"{line}\n" for line in out)


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]
    returncode: int
    output: tuple[str, ...]


def run_installer(
    argv: Sequence[str],
    env: Mapping[str, str],
    progress: InstallerProgress,
    verbose: bool,
    log: Log,
) -> RunResult:
    """Run an installer, streaming its output: echoed with -v, else into the progress."""
    if verbose:
        log("lockbuild: running: " + shlex.join(argv))
    lines: list[str] = []

    def seen(text: str) -> None:
        lines.append(text)
        if verbose:
            log(text)
        else:
            progress.line(text)

    try:
        code = run_streamed(argv, env=env, on_line=seen, timeout=limits.build_timeout())
    except OSError as exc:
        raise InstallError(f"cannot run {argv[0]}: {exc}") from None
    except ProcessTimeout as exc:
        raise InstallError(f"{argv[0]}: {exc} (LOCKBUILD_BUILD_TIMEOUT)") from None
    finally:
        progress.clear()
    return RunResult(tuple(argv), code, tuple(lines))
