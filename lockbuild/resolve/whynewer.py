"""Why not newer, through runtime edges: each runtime pin below the newest release its
inputs allow (and the target can use), with what kept it there —

- another pin's requirement on it that excludes the newest release
  (``botocore 1.35.0 requires urllib3<2``),
- the newest release itself: the backend failed on it (ruled out), or one of its own
  requirements does not admit a locked version, followed by what holds that project
  (``requests 2.34.2 requires urllib3<2; requirements.in line 2: urllib3>=2``),
- or the existing lock's pin, which compile keeps unless told to move it (said with -v,
  not recorded: the line would change with every upstream release while the pin stays).

Build edges are ``heldback``'s: a pin it explains is not explained again here. The
accounts are written into the lock's header (``lockbuild-held-back:``), so that the
body stays what pip-compile writes and ``why`` can say them without the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import LockbuildError
from lockbuild.model import PYTHON, Candidate, Kind, Req
from lockbuild.resolve.heldback import HeldBack

# start-up speed: conflict and files (describe_requirement, choose_file) are imported in
# the functions that explain a pin; a replayed compile reads the lock's lines without them.
if TYPE_CHECKING:
    # start-up speed: a replayed compile reads these lines without the resolver
    from lockbuild.resolve.provider import Provider

Information = Mapping[str, Sequence[tuple[Req, Candidate | None]]]
_LINE = re.compile(r"^(\S+) (\S+) \(newest ([^)\s]+)\): (.+)$")
KEPT = "kept at the existing lock's pin"
# Kinds of requirement the user wrote: they decide the newest release a pin may take.
_OWN = (Kind.INPUT, Kind.EDITABLE, Kind.CONSTRAINT)


def find(
    provider: Provider,
    information: Information,
    locked: Mapping[NormalizedName, Version],
    runtime: Iterable[str],
    explained: Iterable[str] = (),
    command: str = "lockbuild compile",
) -> dict[str, HeldBack]:
    """Every pin of ``runtime`` below its newest allowed release, with why; pins named in
    ``explained`` (held back by a build edge) are left out. ``command`` is the compile
    command, named with ``-P`` for a pin only kept from the existing lock."""
    skip = {canonicalize_name(n) for n in explained}
    edges = _Edges(information)
    newest: dict[NormalizedName, Candidate] = {}
    for text in sorted(runtime):
        name = canonicalize_name(text)
        if name in skip or name not in locked:
            continue
        requirements = edges.on(provider, name)
        if any(req.url for req, _ in requirements):
            continue
        allowed = SpecifierSet()
        for req, parent in requirements:
            if parent is None and req.kind in _OWN:
                allowed &= req.specifier
        candidate = _newest_usable(provider, name, allowed, locked[name])
        if candidate is not None:
            newest[name] = candidate
            provider.repository.prefetch_candidate(candidate)  # metadata read in parallel
    found: dict[str, HeldBack] = {}
    for name, candidate in newest.items():
        reasons = _reasons(provider, edges, name, candidate, locked, command)
        found[name] = HeldBack(name, str(locked[name]), str(candidate.version), tuple(reasons))
    return found


def _reasons(
    provider: Provider,
    edges: _Edges,
    name: NormalizedName,
    newest: Candidate,
    locked: Mapping[NormalizedName, Version],
    command: str,
) -> list[str]:
    from lockbuild.resolve.conflict import describe_requirement  # start-up speed, see the top

    version = locked[name]
    reasons = [
        describe_requirement(req, parent)
        for req, parent in edges.on(provider, name)
        if parent is not None
        and req.kind != Kind.BUILD
        and not req.specifier.contains(newest.version, prereleases=True)
    ]
    if reasons:
        return list(dict.fromkeys(reasons))
    ruled = provider.ruled_out.get((name, newest.version))
    if ruled is not None:
        return [f"{name} {newest.version} was ruled out: {ruled.hook} {ruled.reason}"]
    reasons = _unmet_requirements(provider, edges, newest, locked)
    if reasons:
        return list(dict.fromkeys(reasons))
    if provider.preferences.get(name) == version:
        return [f"{KEPT} (to move it: {command} -P {name})"]
    return [f"no single requirement excludes {newest.version}; the resolution settled on {version}"]


def _unmet_requirements(
    provider: Provider,
    edges: _Edges,
    newest: Candidate,
    locked: Mapping[NormalizedName, Version],
) -> list[str]:
    """``newest``'s runtime requirements that a locked version does not meet, each
    followed by the requirements that hold that project where it is."""
    from lockbuild.resolve.conflict import describe_requirement  # start-up speed, see the top

    try:
        texts = provider.repository.metadata(newest).requires_dist
    except LockbuildError:  # an explanation never fails a compile
        return []
    reasons: list[str] = []
    for text in texts:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if not provider.target.evaluate(requirement.marker, [""]):
            continue
        dep = canonicalize_name(requirement.name)
        if dep == PYTHON or dep not in locked:
            continue
        if requirement.specifier.contains(locked[dep], prereleases=True):
            continue
        req = Req.from_requirement(requirement, Kind.RUNTIME)
        reasons.append(describe_requirement(req, newest))
        reasons += _holders(provider, edges, dep, requirement.specifier)
    return reasons


def _holders(
    provider: Provider, edges: _Edges, name: NormalizedName, wanted: SpecifierSet
) -> list[str]:
    """The requirements on ``name`` that admit no known version ``wanted`` admits."""
    from lockbuild.resolve.conflict import describe_requirement  # start-up speed, see the top

    versions = [r.version for r in provider.repository.releases(name)]
    fitting = [v for v in versions if wanted.contains(v, prereleases=True)]
    return [
        describe_requirement(req, parent)
        for req, parent in edges.on(provider, name)
        if not any(req.specifier.contains(v, prereleases=True) for v in fitting)
    ]


class _Edges:
    """The resolution's requirements, found by project: its identifiers (``name`` and
    ``name[extras]``) grouped by name once, in their order, rather than every identifier
    looked at for each pin."""

    def __init__(self, information: Information) -> None:
        self.information = information
        self.keys: dict[str, list[str]] = {}
        for key in information:
            self.keys.setdefault(key.split("[", 1)[0], []).append(key)

    def on(self, provider: Provider, name: str) -> list[tuple[Req, Candidate | None]]:
        """The requirements on ``name`` and on its extras (``name[x]``), but the edges
        from an extra to its own base (they only repeat the version chosen)."""
        items = [
            (req, parent)
            for key in self.keys.get(name, ())
            for req, parent in self.information[key]
            if req.kind != Kind.EXTRA
        ]
        return items + [(c, None) for c in provider.constraints.get(name, [])]


def _newest_usable(
    provider: Provider, name: NormalizedName, specifier: SpecifierSet, above: Version
) -> Candidate | None:
    """The newest release above ``above`` that ``specifier`` allows and the target can
    use (None when the pin is already the newest)."""
    from lockbuild.resolve.files import choose_file  # start-up speed, see the top
    from lockbuild.resolve.provider import allowed_releases  # start-up speed, see the top

    releases = provider.repository.releases(name)
    # filter()'s pre-release rule, as the resolution applied it (contains() of an empty
    # specifier admits them), read newest first only as far as the pin.
    prereleases = True if provider.options.pre else None
    for release in allowed_releases(releases, specifier, prereleases):
        if release.version <= above:
            return None
        dist = choose_file(release.files, name, provider.target, provider.options, False)
        if dist is None:
            continue
        return Candidate(
            name, release.version, dist=dist, builds=not dist.is_wheel, files=release.files
        )
    return None


def only_kept(held: HeldBack) -> bool:
    """Whether nothing holds the pin but the existing lock (compile keeps pins)."""
    return held.reasons[0].startswith(KEPT)


def printed(held: HeldBack) -> bool:
    """Whether compile prints this one (the lock records every one): held back by a
    requirement by more than a major release. A pin only kept from the existing lock is
    not held back by anything; ``why`` says so."""
    try:
        pin, newest = Version(held.version), Version(held.newest)
    except ValueError:
        return False
    return newest.major > pin.major and not only_kept(held)


def from_line(line: str) -> HeldBack | None:
    """A HeldBack from the header line ``HeldBack.line`` wrote (None when it is not one)."""
    match = _LINE.match(line.strip())
    if match is None:
        return None
    name, version, newest, reasons = match.groups()
    return HeldBack(name, version, newest, tuple(reasons.split("; ")))
