"""PEP 517 hooks of a project, run in isolated environments and bounded in time: its
build requirements and its metadata, their answers validated before use."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement

from lockbuild.build import programs
from lockbuild.build.environments import EnvironmentPool, IsolatedEnvironment
from lockbuild.build.hookfail import HookFailed, last_line
from lockbuild.dists.archive import MAX_MEMBER_BYTES
from lockbuild.dists.buildsystem import BuildSystem
from lockbuild.model import parse_requirement
from lockbuild.process import ProcessTimeout, run_bounded

if TYPE_CHECKING:
    from pyproject_hooks import BuildBackendHookCaller


def _invalid_requires(answer: object) -> str | None:
    """Why a get_requires_for_build_wheel answer is unusable (None when it is fine)."""
    if not isinstance(answer, list) or not all(isinstance(r, str) for r in answer):
        return f"returned {type(answer).__name__}, not a list of requirement strings"
    for text in answer:
        try:
            parse_requirement(text)
        except InvalidRequirement:
            return f"returned an invalid requirement {text[:100]!r}"
    return None


def _dist_info_metadata(out_dir: Path, name: object) -> bytes | str:
    """METADATA of the .dist-info directory a hook named, confined to ``out_dir``; or
    why the answer is unusable."""
    if (
        not isinstance(name, str)
        or not name.endswith(".dist-info")
        or any(c in name for c in "/\\\0")
        or name.startswith(".")
    ):
        return f"returned an invalid .dist-info name {str(name)[:100]!r}"
    path = out_dir / name / "METADATA"
    try:
        if not path.resolve().is_relative_to(out_dir.resolve()) or not path.is_file():
            return f"named {name}, which holds no METADATA file"
        if path.stat().st_size > MAX_MEMBER_BYTES:
            return f"wrote an implausibly large {name}/METADATA"
        data = path.read_bytes()
    except OSError as exc:
        return f"named {name}, whose METADATA cannot be read: {exc.strerror}"
    try:
        data.decode("utf-8")  # core metadata is UTF-8; what it says is read as text
    except UnicodeDecodeError as exc:
        return f"wrote {name}/METADATA, which is not UTF-8 (byte {exc.start})"
    return data


def _log_text(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


Run = Callable[[Sequence[str], str | None, Mapping[str, str]], None]


def backend_caller(
    project_dir: Path, system: BuildSystem, python: str, run: Run
) -> BuildBackendHookCaller:
    """pyproject_hooks' caller of ``system``'s backend for ``project_dir`` in the
    interpreter ``python``; each hook's process is started by ``run(cmd, cwd, extra
    environment)``, which bounds it (process.run_bounded) and raises when it fails."""
    # start-up speed: pyproject_hooks (~50 ms) only when a backend is called
    from pyproject_hooks import BuildBackendHookCaller

    def runner(
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        run(cmd, cwd, extra_environ or {})

    return BuildBackendHookCaller(
        str(project_dir),
        system.backend,
        backend_path=list(system.backend_path) or None,
        runner=runner,
        python_executable=python,
    )


def run_hook(
    project_dir: Path,
    system: BuildSystem,
    env: IsolatedEnvironment,
    hook: str,
    what: str,
    out_dir: Path | None = None,
) -> list[str] | bytes:
    """Call one PEP 517 hook of ``project_dir``'s backend inside ``env``, bounded in time:
    the requirements get_requires_for_build_wheel returned, or the METADATA that
    prepare_metadata_for_build_wheel wrote. Any failure, timeout or invalid answer is a
    HookFailed whose log is kept."""
    from pyproject_hooks import BackendUnavailable, HookMissing  # start-up speed, as above

    with tempfile.TemporaryDirectory(prefix="lockbuild-log-") as logdir:
        log = Path(logdir) / "hook.log"
        log.touch()

        def fail(reason: str) -> HookFailed:
            return HookFailed(what, hook, reason, env.logs.keep(what, hook, _log_text(log)))

        def run(cmd: Sequence[str], cwd: str | None, extra: Mapping[str, str]) -> None:
            code = run_bounded(cmd, cwd=cwd, env={**env.environ(), **extra}, log=log)
            if code != 0:
                raise subprocess.CalledProcessError(code, cmd)

        caller = backend_caller(project_dir, system, env.python_executable, run)
        try:
            if hook in _REQUIRES_HOOKS:
                # sdist and editable: pip-compile's --build-deps-for (a backend without
                # the hook answers [] through pyproject_hooks, as PEP 517/660 say).
                answer = getattr(caller, hook)({})
                invalid = _invalid_requires(answer)
                if invalid is not None:
                    raise fail(invalid)
                return list(answer)
            if hook == "prepare_metadata_for_build_wheel":
                assert out_dir is not None
                found = _dist_info_metadata(
                    out_dir, caller.prepare_metadata_for_build_wheel(str(out_dir), {}, True)
                )
                if isinstance(found, str):
                    raise fail(found)
                return found
            raise ValueError(hook)
        except ProcessTimeout as exc:
            raise fail(str(exc)) from None
        except BackendUnavailable as exc:
            raise fail(
                f"build backend {system.backend!r} is unavailable: {last_line(str(exc))}"
            ) from None
        except HookMissing as exc:
            raise fail(f"build backend lacks hook {exc}") from None
        except subprocess.CalledProcessError:
            raise fail(f"failed: {last_line(_log_text(log))}") from None
        except FileNotFoundError:  # the hook's process ended well but wrote no answer
            raise fail("ended (exit 0) without an answer") from None
        except (OSError, ValueError) as exc:  # an answer pyproject_hooks cannot read
            raise fail(f"gave an answer that cannot be read: {str(exc)[:200]}") from None


_REQUIRES_HOOKS = (
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_editable",
)


@dataclass(frozen=True)
class PreparedMetadata:
    """What preparing metadata learned: METADATA, and what get_requires_for_build_wheel
    returned in an environment holding ``pins`` (so a later round may reuse it)."""

    metadata: bytes
    build_requires: tuple[str, ...]
    pins: tuple[str, ...]


_BOTH = "prepare_metadata_for_build_wheel"


def _both_hooks(
    project_dir: Path,
    system: BuildSystem,
    env: IsolatedEnvironment,
    out_dir: Path,
    what: str = "the build backend",
) -> tuple[list[str], str | None] | None:
    """(requirements, dist-info name or None), or None when the fast path did not work
    (the caller then asks pyproject_hooks, whose errors are the backend's own). A
    timeout is final: the same hook would only time out again."""
    result_file = out_dir / ".lockbuild-hooks.json"
    log = out_dir / ".lockbuild-hooks.log"
    try:
        if not system.backend_path:
            server = env.hook_server(system.backend)
            code = server.run(project_dir, out_dir, result_file, log) if server else None
            if code is not None:
                return _both_result(result_file, code)
        code = run_bounded(
            [
                env.python,
                str(programs.path("hooks")),
                "both",
                system.backend,
                json.dumps(list(system.backend_path)),
                str(out_dir),
                str(result_file),
            ],
            cwd=project_dir,
            env=env.environ(),
            log=log,
        )
    except ProcessTimeout as exc:
        kept = env.logs.keep(what, _BOTH, _log_text(log))
        raise HookFailed(what, _BOTH, str(exc), kept) from None
    return _both_result(result_file, code)


def _both_result(result_file: Path, code: int) -> tuple[list[str], str | None] | None:
    try:
        data = json.loads(result_file.read_text(encoding="utf-8"))
        result_file.unlink()
    except (OSError, ValueError):
        return None
    if code != 0 or not isinstance(data, dict) or _invalid_requires(data.get("requires")):
        return None
    dist_info = data.get("dist_info")
    return [str(r) for r in data["requires"]], dist_info if isinstance(dist_info, str) else None


def hook_metadata(
    project_dir: Path,
    system: BuildSystem,
    pool: EnvironmentPool,
    what: str,
    *,
    constraints: Sequence[str] = (),
    uploaded_before: datetime | None = None,
    keep_wheel: Callable[[Path, tuple[str, ...], str], object] | None = None,
) -> PreparedMetadata:
    """METADATA of a project via prepare_metadata_for_build_wheel (falling back to a wheel
    build) in an isolated environment holding its build requirements, bound by
    ``constraints`` (the lock's build overrides and constraints); a wheel built for the
    fallback is handed to ``keep_wheel`` with the environment's pins and interpreter."""
    env = pool.get(system.requires, what, constraints=constraints, uploaded_before=uploaded_before)
    with tempfile.TemporaryDirectory(prefix="lockbuild-meta-") as out:
        fast = _both_hooks(project_dir, system, env, Path(out), what)
        pins = env.pins()
        if fast is not None and fast[1] is not None:
            found = _dist_info_metadata(Path(out), fast[1])
            if isinstance(found, str):
                raise HookFailed(what, "prepare_metadata_for_build_wheel", found)
            return PreparedMetadata(found, tuple(fast[0]), pins)
        if fast is not None:
            extra = fast[0]
        else:
            found_requires = run_hook(
                project_dir, system, env, "get_requires_for_build_wheel", what
            )
            assert isinstance(found_requires, list)
            extra = found_requires
        if set(extra) - set(system.requires):
            env = pool.get(
                [*system.requires, *extra],
                what,
                constraints=constraints,
                uploaded_before=uploaded_before,
            )
        metadata = run_hook(
            project_dir, system, env, "prepare_metadata_for_build_wheel", what, Path(out)
        )
        assert isinstance(metadata, bytes)
        if keep_wheel is not None:
            for wheel in Path(out).glob("*.whl"):
                keep_wheel(wheel, env.pins(), env.python)
    return PreparedMetadata(metadata, tuple(extra), pins)


def hook_build_requires(
    project_dir: Path,
    system: BuildSystem,
    pool: EnvironmentPool,
    pins: Sequence[str],
    constraints: Sequence[str],
    what: str,
    target: str = "wheel",
) -> list[str]:
    """What get_requires_for_build_<target> adds, run in an environment holding ``pins``."""
    env = pool.get(pins, what, constraints=constraints, no_deps=True)
    hook = f"get_requires_for_build_{target}"
    served = _served_requires(project_dir, system, env, hook, what)
    if served is not None:
        return served
    result = run_hook(project_dir, system, env, hook, what)
    assert isinstance(result, list)
    return result


def _served_requires(
    project_dir: Path, system: BuildSystem, env: IsolatedEnvironment, hook: str, what: str
) -> list[str] | None:
    """``hook``'s answer through the environment's fork server (the backend imported
    once for every sdist sharing the environment); None when there is no server or the
    hook failed there (the caller then asks pyproject_hooks, whose errors are the
    backend's own). A timeout is final, as in _both_hooks."""
    server = None if system.backend_path else env.hook_server(system.backend)
    if server is None:
        return None
    with tempfile.TemporaryDirectory(prefix="lockbuild-hook-") as tmp:
        result_file, log = Path(tmp) / "result.json", Path(tmp) / "hook.log"
        try:
            code = server.run(project_dir, Path(tmp), result_file, log, hook)
        except ProcessTimeout as exc:
            raise HookFailed(
                what, hook, str(exc), env.logs.keep(what, hook, _log_text(log))
            ) from None
        found = _both_result(result_file, code) if code is not None else None
    return found[0] if found is not None else None


def copy_project(src: Path, dest: Path) -> Path:
    """A scratch copy of a local project directory, so hooks never write into the user's tree."""
    target = dest / src.name
    shutil.copytree(src, target, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__"))
    return target
