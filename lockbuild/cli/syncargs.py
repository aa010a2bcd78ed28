"""The arguments of sync and wheelhouse (both read a lock pair and build its sdists), and
the ``SyncOptions`` they become."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lockbuild.errors import UsageError

if TYPE_CHECKING:
    from lockbuild.sync.run import SyncOptions

# Options both commands take, applied to each (click makes one parameter per use).
LOCKFILE = click.argument("lockfile", required=False, type=click.Path(path_type=Path))
BUILD_CONSTRAINTS = click.option(
    "--build-constraints",
    "build_constraints",
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="Build constraints file (default: <lockfile stem>-build.txt beside it).",
)
JOBS = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="sdists built in parallel (default: the CPU count, at most 4).",
)
QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress output or summary.")
LOCKFILES = click.argument("lockfiles", nargs=-1, type=click.Path(path_type=Path))


def pip_sync_params(func: Any) -> Any:
    """pip-sync's options that lockbuild's own sync options do not already cover."""
    options = [
        click.option(
            "-a",
            "--ask",
            is_flag=True,
            help="Show the plan, then ask whether to go on (no: exit 1, nothing changed).",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Of two lockfiles pinning a project differently, the later wins.",
        ),
        click.option(
            "--trusted-host", multiple=True, metavar="HOST", help="Passed to the installer."
        ),
        click.option("--cert", metavar="PATH", help="CA bundle, passed to pip."),
        click.option("--client-cert", metavar="PATH", help="Client certificate, passed to pip."),
        click.option("--pip-args", metavar="ARGS", help="More options for 'pip install'."),
        click.option(
            "--user",
            is_flag=True,
            help="pip-sync's user-site sync: refused (lockbuild syncs a venv, or with "
            "--system an interpreter).",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="Read [tool.pip-tools] (its sync table) from this TOML file.",
        ),
        click.option("--no-config", is_flag=True, help="Read no configuration file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def sync_options(params: dict[str, Any]) -> SyncOptions:
    """SyncOptions from either command's parameters (those a command lacks keep their
    defaults)."""
    from lockbuild.sync.run import SyncOptions  # start-up speed: sync's machinery (~180 ms)

    optional: dict[str, Any] = {
        key: params[key]
        for key in ("system", "installer", "dry_run", "ignore_target")
        if key in params
    }
    if "check_only" in params:
        optional["check"] = params["check_only"]
    lockfiles: tuple[Path, ...] = tuple(params.get("lockfiles") or ())
    if params.get("user"):
        raise UsageError(
            "--user: lockbuild syncs a venv (or, with --system, an interpreter's "
            "site-packages), not the user site"
        )
    pip_args = _installer_args(params)
    if pip_args and params.get("installer") == "uv":
        raise UsageError(
            f"{pip_args[0]}: pip's option, and --installer uv was chosen "
            "(uv reads SSL_CERT_FILE and its own UV_* settings)"
        )
    for key in ("ask", "force"):
        if key in params:
            optional[key] = params[key]
    return SyncOptions(
        lockfile=(lockfiles[0] if lockfiles else params.get("lockfile"))
        or Path("requirements.txt"),
        lockfiles=lockfiles,
        pip_args=pip_args,
        trusted_hosts=tuple(params.get("trusted_host") or ()),
        build_file=params["build_constraints"],
        python=params["python"],
        index_url=params["index_url"],
        extra_index_urls=params["extra_index_url"],
        find_links=params["find_links"],
        no_index=params["no_index"],
        jobs=params["jobs"] or 0,
        quiet=params["quiet"],
        verbose=params["verbose"],
        **optional,
    )


def _installer_args(params: dict[str, Any]) -> tuple[str, ...]:
    """--cert, --client-cert and --pip-args as pip-sync passes them to 'pip install'."""
    args: list[str] = []
    for key, flag in (("cert", "--cert"), ("client_cert", "--client-cert")):
        if params.get(key):
            args += [flag, str(Path(params[key]).resolve())]
    if params.get("pip_args"):
        try:
            args += shlex.split(params["pip_args"])
        except ValueError as exc:
            raise UsageError(f"--pip-args {params['pip_args']!r}: {exc}") from None
    return tuple(args)
