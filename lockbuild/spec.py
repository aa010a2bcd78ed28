"""What the user asked for, as values: requirements with the file and line they were
written on, index options, and the merged inputs (``Spec``); how paths and long values
are shown in messages; and ``CompileOptions``, everything ``compile`` and ``check`` were
asked (parsed by ``cli``, read by the resolution and the outputs). Reading the files is
``reqfile``'s (lines: ``reqline``, project inputs: ``project``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.cutoff import Cutoff

# IndexOptions and format_names live in indexopts; named here too for older importers.
from lockbuild.errors import shown as shown
from lockbuild.indexopts import IndexOptions as IndexOptions
from lockbuild.indexopts import format_names as format_names


@dataclass(frozen=True)
class Origin:
    """Where a requirement was written: a file and line, or the command line."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file} line {self.line}" if self.line else self.file


@dataclass(frozen=True)
class InputRequirement:
    """One requirement line of an input file."""

    requirement: Requirement
    origin: Origin
    constraint: bool = False
    editable: bool = False
    # For a direct reference or local path: an absolute URL (file:// for paths).
    url: str | None = None
    # What the user wrote for a local path, kept to write it back relative to the output.
    path_text: str | None = None
    # The project a pyproject.toml / setup.py input describes (it is built, not pinned).
    project: bool = False
    all_extras: bool = False
    label: str | None = None
    # --hash options of the line (sha256 hex): a file of the locked version must match one.
    hashes: tuple[str, ...] = ()

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def via(self) -> str:
        """How the lockfile's annotations name the file this came from."""
        if self.label:
            return self.label
        return f"{'-c' if self.constraint else '-r'} {self.origin.file}"


@dataclass(frozen=True)
class Spec:
    """All input files merged: requirements, constraints and options."""

    requirements: tuple[InputRequirement, ...]
    constraints: tuple[InputRequirement, ...]
    options: IndexOptions
    sources: tuple[Path, ...]
    # Every file read (sources and their -r/-c includes), for staleness checks.
    files_read: tuple[Path, ...] = ()


def listed(items: Sequence[str], limit: int = 10, sep: str = ", ") -> str:
    """``items`` joined for a message: the first ``limit``, the rest counted."""
    if len(items) <= limit:
        return sep.join(items)
    return f"{sep.join(items[:limit])} (and {len(items) - limit} more)"


def display_path(path: Path) -> str:
    """A path as annotations show it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


@dataclass(frozen=True)
class CompileOptions:
    """Everything that ``lockbuild compile`` (and ``check``) was asked, defaults applied."""

    sources: tuple[Path, ...]
    output_file: Path
    build_output_file: Path
    cli_index: IndexOptions = field(default_factory=IndexOptions)
    cli_index_url_set: bool = False
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    cache_dir: Path | None = None
    offline: bool = False
    refresh: bool = False
    replay: bool = True  # reuse an identical earlier run's result (see replay.py)
    quiet: bool = False
    verbose: bool = False
    workers: int = 8
    command: str = "lockbuild compile"
    build_hooks: bool = True
    build_deps_for: str = "needed"
    build_constraint_files: tuple[Path, ...] = ()
    build_constraints: tuple[str, ...] = ()  # from [tool.lockbuild] build-constraints
    config_file: Path | None = None
    generate_hashes: bool = False
    extras: tuple[str, ...] = ()
    all_extras: bool = False
    groups: tuple[str, ...] = ()
    exclude_newer: Cutoff | None = None  # as written; resolved when the compile starts
    build_deps_as_of_release: bool = False
    # Where the values came from (parameter names): given on the command line (for check,
    # the recorded command's and check's own), and set by [tool.lockbuild].
    given: frozenset[str] = frozenset()
    configured: frozenset[str] = frozenset()
    # pip-compile's output flags (cli/compileargs.py); the defaults are lockbuild's.
    strip_extras: bool = True
    allow_unsafe: bool = True
    unsafe_packages: tuple[str, ...] = ()  # replaces pip-compile's set when given
    annotate: bool = True
    annotation_style: str = "split"
    emit_index_url: bool = True
    emit_find_links: bool = True
    emit_trusted_host: bool = True
    emit_options: bool = True
    newline: str = "preserve"  # lf, crlf, native or preserve (the existing file's)
    dry_run: bool = False
    constraint_files: tuple[Path, ...] = ()  # -c/--constraint
    # pip-compile's --build-deps-for editable|sdist|wheel, --all-build-deps and
    # --only-build-deps: the project input's own build requirements, as pins.
    project_build_targets: tuple[str, ...] = ()
    only_build_deps: bool = False

    def output_flags(self) -> tuple[str, ...]:
        """pip-compile's flags that shape the lockfile, where they differ from lockbuild's
        defaults (so that locks made before these flags existed stay current)."""
        flags = {
            "strip_extras": self.strip_extras,
            "allow_unsafe": self.allow_unsafe,
            "annotate": self.annotate,
            "emit_index_url": self.emit_index_url,
            "emit_find_links": self.emit_find_links,
            "emit_trusted_host": self.emit_trusted_host,
            "emit_options": self.emit_options,
        }
        return (
            tuple(f"{k}=False" for k, v in flags.items() if not v)
            + (
                (f"annotation_style={self.annotation_style}",)
                if self.annotation_style != "split"
                else ()
            )
            + tuple(f"unsafe={n}" for n in sorted(self.unsafe_packages))
            + ((f"newline={self.newline}",) if self.newline != "preserve" else ())
            + tuple(f"build-deps-for={t}" for t in sorted(self.project_build_targets))
            + (("only-build-deps",) if self.only_build_deps else ())
        )

    def result_flags(self) -> str:
        """The options (besides index options and target) that change the result."""
        return repr(
            (
                self.build_hooks,
                self.build_deps_for,
                sorted(self.build_constraints),
                self.generate_hashes,
                sorted(self.extras),
                self.all_extras,
                sorted(self.groups),
                # The expression, not the moment: a relative cut-off ("7 days") moves,
                # and check compares what was asked for.
                self.exclude_newer.text.strip() if self.exclude_newer else None,
            )
            # Only when asked for, so that locks made before the flag existed stay current.
            + (("build-deps-as-of-release",) if self.build_deps_as_of_release else ())
        )
