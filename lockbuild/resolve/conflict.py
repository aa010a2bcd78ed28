"""Why a resolution failed, for the person reading it: each requirement named with where
it came from, and per project what was asked, what the index offers and what was ruled
out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from lockbuild.build.hookfail import hint
from lockbuild.indexopts import FIRST_INDEX
from lockbuild.model import PYTHON, Candidate, Kind, Req

if TYPE_CHECKING:
    from resolvelib.structs import RequirementInformation

    from lockbuild.resolve.provider import Provider


def describe_requirement(req: Req, parent: Candidate | None) -> str:
    """One line naming a requirement and where it came from, build edges labeled."""
    if parent is None:
        where = req.origin or req.via or "input"
        return f"{where}: {req.text}"
    label = " (build)" if req.kind == Kind.BUILD else ""
    what = req.text if req.name != PYTHON else f"Python {req.specifier}"
    if req.not_after is not None:
        what += f" uploaded by {req.not_after.isoformat()} (--build-deps-as-of-release)"
    return f"{parent.name} {parent.version}{label} requires {what}"


# What left every release that fits out, by the causes found (RuledOut.cause).
_RULED_OUT_BY: dict[tuple[str, ...], str] = {
    ("backend",): "the build backend failed for every release that fits",
    ("metadata",): "every release that fits has metadata no installer reads",
    ("environment",): "the build requirements of every release that fits could not be installed",
}


def _ruled_out_by(causes: set[str]) -> str:
    return _RULED_OUT_BY.get(
        tuple(sorted(causes)),
        f"every release that fits was ruled out ({', '.join(sorted(causes))})",
    )


def explain_conflict(
    causes: Sequence[RequirementInformation[Req, Candidate]], provider: Provider
) -> str:
    """A readable account of why no version of some project fits every requirement."""
    by_name: dict[str, list[tuple[Req, Candidate | None]]] = {}
    for cause in causes:
        by_name.setdefault(cause.requirement.name, []).append((cause.requirement, cause.parent))
    lines: list[str] = []
    for name, items in by_name.items():
        if name == PYTHON:
            lines.append(f"the target Python {provider.target.python_version} is not supported:")
        else:
            releases = provider.repository.releases(canonicalize_name(name))
            dropped = provider.repository.unusable_files(canonicalize_name(name))
            if not releases and dropped:
                lines.append(
                    f"no version of {name} has a file usable on {provider.target.description} "
                    f"({dropped} wheels for other platforms or Pythons):"
                )
            elif not releases:
                lines.append(f"no distributions of {name} found on any index or find-links:")
            elif len(items) == 1 and any(n == name for n, _v in provider.ruled_out):
                why = {r.cause for (n, _v), r in provider.ruled_out.items() if n == name}
                lines.append(f"no usable release of {name}: {_ruled_out_by(why)}:")
            elif len(items) == 1:
                versions = ", ".join(str(r.version) for r in releases[:8])
                more = " ..." if len(releases) > 8 else ""
                lines.append(
                    f"no version of {name} satisfies this and has a file usable on "
                    f"{provider.target.description} (available: {versions}{more}):"
                )
            else:
                lines.append(f"conflicting requirements for {name}:")
        for req, parent in dict.fromkeys(items):
            lines.append(f"  {describe_requirement(req, parent)}")
        constraints = provider.constraints.get(canonicalize_name(name), [])
        for c in constraints:
            lines.append(f"  {c.origin or c.via}: {c.text} (constraint)")
        if any(req.kind == Kind.BUILD for req, _ in items):
            for o in provider.build_overrides.get(canonicalize_name(name), []):
                lines.append(f"  {o.origin}: {o.text} (build override)")
        failed = [r for (n, _v), r in provider.ruled_out.items() if n == name]
        lines.extend(f"  ruled out {r.line()}" for r in failed)
    failed = [r for (n, _v), r in provider.ruled_out.items() if n in by_name]
    advice = hint(failed, provider.as_of_release)
    if advice:
        lines.append(f"  ({advice})")
    options = provider.options
    if options.strategy == FIRST_INDEX and options.several_indexes():
        lines.append(
            "  (--index-strategy first-index: a project's versions come only from the first "
            "index that lists it, extra indexes first; a later index may have others)"
        )
    return "cannot resolve: " + "\n".join(lines)
