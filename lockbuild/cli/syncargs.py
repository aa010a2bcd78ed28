"""The arguments of sync and wheelhouse (both read a lock pair and build its sdists), and
the ``SyncOptions`` they become."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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
    return SyncOptions(
        lockfile=params["lockfile"] or Path("requirements.txt"),
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
