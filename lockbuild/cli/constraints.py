"""What steers a resolution besides its inputs: ``-P name==version`` constraints, the
build overrides (--build-constraint, [tool.lockbuild] build-constraints) and the existing
pins it prefers."""

from __future__ import annotations

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.cli.reqfile import read_spec
from lockbuild.errors import InputError, UsageError
from lockbuild.lock.formats import read_lock
from lockbuild.model import Kind, Req
from lockbuild.spec import CompileOptions, display_path
from lockbuild.target import Target


def upgrade_constraints(options: CompileOptions) -> list[Req]:
    """``-P name==2.0`` (as pip-compile accepts it): that package moves to that version."""
    result = []
    for text in options.upgrade_packages:
        try:
            requirement = Requirement(text)
        except ValueError:
            raise UsageError(f"--upgrade-package {text!r}: not a requirement") from None
        if requirement.specifier:
            result.append(
                Req.from_requirement(requirement, Kind.CONSTRAINT, origin="--upgrade-package")
            )
    return result


def build_overrides(options: CompileOptions, target: Target) -> list[Req]:
    """Requirements that bind build edges only (--build-constraint, [tool.lockbuild])."""
    overrides: list[Req] = []
    for path in options.build_constraint_files:
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such file"
            raise InputError(f"--build-constraint {display_path(path)}: {what}")
    if options.build_constraint_files:
        spec = read_spec(options.build_constraint_files)
        for item in spec.requirements:
            if target.evaluate(item.requirement.marker, [""]):
                overrides.append(
                    Req.from_requirement(
                        item.requirement,
                        Kind.OVERRIDE,
                        origin=str(item.origin),
                        via="build override",
                    )
                )
    where = display_path(options.config_file) if options.config_file else "pyproject.toml"
    for number, text in enumerate(options.build_constraints, start=1):
        try:
            requirement = Requirement(text)
        except ValueError:
            raise InputError(
                f"{where}: [tool.lockbuild] build-constraints item {number}: "
                f"invalid requirement {text!r}"
            ) from None
        if target.evaluate(requirement.marker, [""]):
            overrides.append(
                Req.from_requirement(
                    requirement,
                    Kind.OVERRIDE,
                    origin=f"{where} [tool.lockbuild]",
                    via="build override",
                )
            )
    return overrides


def preferences(options: CompileOptions) -> dict[str, Version]:
    """Existing pins, kept where still valid unless an upgrade was asked for."""
    if options.upgrade or not options.output_file.exists():
        return {}
    try:
        locked = read_lock(options.output_file)
        built = (
            read_lock(options.build_output_file, what="build file")
            if options.build_output_file.exists()
            else None
        )
    except InputError:
        return {}
    lifted = set()
    for text in options.upgrade_packages:
        try:
            lifted.add(canonicalize_name(Requirement(text).name))
        except ValueError:
            raise UsageError(f"--upgrade-package {text!r}: not a package name") from None
    prefs: dict[str, Version] = {}
    pins = list(locked.pins.values()) + (list(built.pins.values()) if built else [])
    for pin in pins:
        if pin.name in lifted or not pin.version:
            continue
        try:
            prefs[pin.name] = Version(pin.version)
        except ValueError:
            continue
    return prefs
