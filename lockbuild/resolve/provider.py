"""The joint resolution: a resolvelib provider in which an sdist's dependencies are its
runtime requirements plus its build requirements (marked as build edges), the
``Repository`` it asks, and ``resolve``, which runs resolvelib with it. Which file of a
release is used is ``files``'; what the resolver reports as it goes, ``reporter``'s."""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider, ResolutionImpossible, Resolver
from resolvelib.resolvers import ResolutionTooDeep
from resolvelib.structs import RequirementInformation

from lockbuild.build.hookfail import HookFailed, RuledOut, RuledOutWhilePinned
from lockbuild.dists.metadata import CoreMetadata
from lockbuild.errors import InvalidMetadataError, ResolutionError
from lockbuild.index.listing import Listing
from lockbuild.model import PYTHON, Candidate, DistFile, Kind, Req, parse_requirement
from lockbuild.resolve.conflict import explain_conflict
from lockbuild.resolve.files import choose_file, exact_pins, yanked_by_pins
from lockbuild.resolve.history import CompactResolver
from lockbuild.resolve.reporter import ProgressReporter
from lockbuild.spec import IndexOptions, InputRequirement
from lockbuild.target import Target


@dataclass(frozen=True, init=False)
class Release:
    """One version of a project; its files are parsed only when first asked for."""

    version: Version
    listings: tuple[Listing, ...] = field(compare=False)

    def __init__(self, version: Version, listings: tuple[Listing, ...]) -> None:
        # Every version on every page read becomes one (38k on set c): set without
        # the frozen dataclass's object.__setattr__ per field.
        fields = self.__dict__
        fields["version"] = version
        fields["listings"] = listings

    @functools.cached_property
    def files(self) -> tuple[DistFile, ...]:
        parsed = (item.dist() for item in self.listings)
        return tuple(sorted((d for d in parsed if d is not None), key=lambda d: d.filename))

    def choice(
        self, name: NormalizedName, target: Target, options: IndexOptions, allow_yanked: bool
    ) -> DistFile | None:
        """``choose_file`` of this release's files, kept per answer's inputs (the target
        and options by identity, kept with the answer): a project's releases are offered
        again each time a requirement on it is added, in every round and resolution."""
        memo: dict[tuple[str, int, int, bool], tuple[Target, IndexOptions, DistFile | None]]
        memo = self.__dict__.get("_choices") or self.__dict__.setdefault("_choices", {})
        key = (name, id(target), id(options), allow_yanked)
        seen = memo.get(key)
        if seen is not None and seen[0] is target and seen[1] is options:
            return seen[2]
        dist = choose_file(self.files, name, target, options, allow_yanked)
        memo[key] = (target, options, dist)
        return dist

    @functools.cached_property
    def uploaded(self) -> datetime | None:
        """When the release first appeared (its earliest file's PEP 700 upload time)."""
        times = [t for t in map(_upload_time, (i.upload_time for i in self.listings)) if t]
        return min(times) if times else None


def _upload_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Repository(Protocol):
    """What the provider asks of the outside world (the index and the dist inspector).
    Every answer is the same for the whole run (cached); the first asking may fetch or
    run a hook."""

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        """Every version of ``name`` with its files, newest first."""
        ...

    def metadata(self, candidate: Candidate) -> CoreMetadata:
        """Runtime metadata of a candidate (from a wheel, PKG-INFO or a PEP 517 hook)."""
        ...

    def build_requires(self, candidate: Candidate) -> Sequence[str]:
        """Build requirements of a candidate that will be built from source."""
        ...

    def url_candidate(self, url: str, editable: bool) -> Candidate:
        """The candidate behind a direct reference or local path."""
        ...

    def prefetch(self, names: Iterable[str]) -> None:
        """Start fetching the pages of ``names`` in the background (a hint: never waits)."""
        ...

    def unusable_files(self, name: NormalizedName) -> int:
        """How many files of ``name`` were passed over as unusable on the target."""
        ...

    def prefetch_candidate(self, candidate: Candidate) -> None:
        """Start fetching what ``candidate``'s metadata needs (a hint: never waits)."""
        ...


class Provider(AbstractProvider[Req, Candidate, str]):
    """The domain resolvelib's algorithm knows nothing of: lockbuild's requirements
    (``Req``, each with the ``Kind`` of edge it is) and candidates (``Candidate``: a
    release and the file the target would install), identified by their key (the
    canonical name, with extras when there are).

    A candidate that builds from an sdist depends on its runtime requirements and on its
    build requirements as build edges, so that one resolution pins both, and a project
    named by both has one version. Constraints (``-c``, --upgrade-package) bind every
    edge of their project, build overrides (--build-constraint) bind only build edges.
    The provider answers from ``repository`` (pages, metadata, build requirements) and the
    ``target``; each method states what it costs. A release whose backend fails is ruled
    out (``rule_out``) and never offered again in the run; one ruled out after it was
    pinned ends the round with ``RuledOutWhilePinned``, and the caller resolves again."""

    def __init__(
        self,
        repository: Repository,
        target: Target,
        options: IndexOptions,
        *,
        constraints: Sequence[Req] = (),
        build_overrides: Sequence[Req] = (),
        preferences: Mapping[str, Version] | None = None,
        direct: Mapping[NormalizedName, Req] | None = None,
        notice: Callable[[str], None] = lambda message: None,
        as_of_release: bool = False,
    ) -> None:
        self.repository = repository
        self.target = target
        self.options = options
        self.constraints: dict[str, list[Req]] = {}
        for req in constraints:
            self.constraints.setdefault(req.name, []).append(req)
        self.build_overrides: dict[str, list[Req]] = {}
        for req in build_overrides:
            self.build_overrides.setdefault(req.name, []).append(req)
        self.preferences = dict(preferences or {})
        self.direct = dict(direct or {})
        # Malformed metadata read leniently, already said.
        self.lenient_notes: set[str] = set()
        # Releases whose build backend failed: never candidates again in this run.
        self.ruled_out: dict[tuple[NormalizedName, Version], RuledOut] = {}
        self.notice = notice
        self.as_of_release = as_of_release
        self._no_upload_time: set[str] = set()
        # is_satisfied_by answers by the identity of the pair asked about (both frozen):
        # resolvelib asks again, every round, whether each current pin satisfies each
        # requirement on it. The pair is kept with the answer, so an id is never reused.
        self._satisfied: dict[tuple[int, int], tuple[Req, Candidate, bool]] = {}
        # Each Requires-Dist text as a runtime edge, made once: releases of a project, and
        # the same release after a backtrack, repeat the same texts.
        self._runtime: dict[str, Req] = {}
        # Combined specifier sets by the specifiers they were made of (_combined).
        self._combinations: dict[tuple[int, ...], tuple[tuple[SpecifierSet, ...], SpecifierSet]]
        self._combinations = {}
        # narrow_requirement_selection's flags per identifier, with the list they came from.
        self._flags: dict[str, tuple[object, tuple[bool, bool, bool]]] = {}
        # The two rules of the build side (None: every build edge is hard, as one joint
        # resolution). Otherwise edges onto these projects are hard: the runtime is at
        # stake there (they have runtime pins, or reach one through a build tool).
        self.joint: set[str] | None = None
        # Projects known to be needed only in build environments: their own runtime
        # requirements on projects outside ``joint`` are loose too (see build_edges).
        self.build_only: set[str] = set()

    def with_pins(
        self, fixed: Mapping[str, Version], preferences: Mapping[str, Version] | None = None
    ) -> Provider:
        """A provider for a build environment's own small resolution: every project in
        ``fixed`` admits only its version there; every build edge is hard; releases ruled
        out stay ruled out (the record is shared)."""
        constraints = [req for reqs in self.constraints.values() for req in reqs]
        for name, version in sorted(fixed.items()):
            constraints.append(
                Req(
                    canonicalize_name(name),
                    frozenset(),
                    SpecifierSet(f"=={version}"),
                    Kind.CONSTRAINT,
                    f"{name}=={version}",
                    via="the lock",
                )
            )
        sub = Provider(
            self.repository,
            self.target,
            self.options,
            constraints=constraints,
            build_overrides=[req for reqs in self.build_overrides.values() for req in reqs],
            preferences=preferences,
            direct=self.direct,
            notice=self.notice,
            as_of_release=self.as_of_release,
        )
        sub.ruled_out = self.ruled_out
        sub.lenient_notes = self.lenient_notes
        sub._no_upload_time = self._no_upload_time
        return sub

    def _loose(self, parent: Candidate, req: Req) -> Req:
        """In the joint resolution, an edge onto a build-only project binds only its name:
        which version each build takes is decided afterwards, per build (buildenvs.py),
        so that builds that disagree about a tool never move a runtime pin."""
        if self.joint is None or req.name in self.joint or req.name == PYTHON or req.url:
            return req
        if req.kind == Kind.BUILD or (req.kind == Kind.RUNTIME and parent.name in self.build_only):
            return replace(req, specifier=SpecifierSet(), not_after=None)
        return req

    def rule_out(self, name: NormalizedName, version: Version, failure: HookFailed) -> bool:
        """Leave a release out from now on because its backend failed (one notice per
        release); False when it was already ruled out."""
        key = (name, version)
        if key in self.ruled_out:
            return False
        self.ruled_out[key] = RuledOut.of(name, str(version), failure)
        self.notice(self.ruled_out[key].notice())
        return True

    # --- resolvelib interface -------------------------------------------------
    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        """The key requirements and candidates are grouped by: the canonical name, with
        ``[extras]`` when there are (``name[extra]`` is its own identifier, bound to
        ``name`` at the same version). Constant time."""
        return requirement_or_candidate.key

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation[Req, Candidate]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Candidate]],
    ) -> list[str]:
        """The one identifier ``get_preference`` would put first among ``identifiers``:
        resolvelib then pins it without asking for each one's key. One pass per round,
        with the backtrack causes gathered once instead of once per identifier."""
        causes = _cause_keys(backtrack_causes)
        criteria = _criteria_of(information)
        if criteria is None:
            return [min(identifiers, key=lambda key: _preference(key, information[key], causes))]
        # resolvelib's own view: the flags of each identifier are kept with the list of
        # requirement information they were read from (resolvelib makes a new list rather
        # than change one), so each round reads only the identifiers whose list is new.
        seen = self._flags
        flags = _flags

        def key(identifier: str) -> tuple[bool, bool, bool, bool, bool, str]:
            infos = criteria[identifier].information
            found = seen.get(identifier)
            if found is None or found[0] is not infos:
                found = seen[identifier] = (infos, flags(infos))
            direct, pinned, requested = found[1]
            return (
                identifier != PYTHON,
                direct,
                pinned,
                identifier not in causes,
                requested,
                identifier,
            )

        return [min(identifiers, key=key)]

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation[Req, Candidate]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Candidate]],
    ) -> tuple[bool, bool, bool, bool, bool, str]:
        """The sort key of ``identifier`` among those left to pin (smaller first): the
        Python requirement, then direct references, then exact pins (``==``), then the
        projects that caused the last backtrack, then the inputs, then by name, so that
        equal inputs resolve in one order. Linear in the requirements on ``identifier``
        and the backtrack causes, no I/O (``narrow_requirement_selection`` picks by the
        same key, so resolvelib rarely calls this)."""
        return _preference(identifier, information[identifier], _cause_keys(backtrack_causes))

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> list[Candidate] | Callable[[], Iterator[Candidate]]:
        """The candidates of ``identifier`` that every requirement on it (and every
        constraint; build overrides when a build edge asks) allows, none of
        ``incompatibilities``, preferred first: the preferred version (the existing
        lock's pin) and then newest first. A direct reference has its one candidate.
        Releases are filtered by the requirements' specifiers and upload cut-offs; each
        candidate's file is the one the target would install (``files.choose_file``).

        Cost: the project's page is fetched once (``repository.releases``); candidates are
        then made lazily, one release at a time, because resolvelib rarely looks past the
        first few, and an sdist candidate's metadata is prepared (a PEP 517 hook, possibly
        seconds) before it is offered: an sdist whose backend fails is ruled out here."""
        reqs = list(requirements[identifier])
        bad = set(incompatibilities[identifier])
        if identifier == PYTHON:
            candidate = Candidate(canonicalize_name(PYTHON), self.target.python_version)
            return [candidate] if candidate not in bad else []
        name = reqs[0].name if reqs else canonicalize_name(identifier.split("[")[0])
        extras = reqs[0].extras if reqs else frozenset()
        if extras and name in requirements:
            # As pip does: candidates of name[extra] also honor what binds name itself.
            reqs += list(requirements[name])
            bad |= {replace(c, extras=extras) for c in incompatibilities.get(name, ())}
        all_reqs = reqs + self.constraints.get(name, [])
        if any(r.kind == Kind.BUILD for r in reqs):
            all_reqs += self.build_overrides.get(name, [])
        urls = {r.url for r in all_reqs if r.url}
        direct_url = self.direct[name].url if name in self.direct else None
        if direct_url:
            urls.add(direct_url)
        if urls:
            return self._url_matches(urls, all_reqs, extras, bad)
        combined = self._combined(all_reqs)
        releases = self.repository.releases(name)
        prereleases = True if self.options.pre else None
        cutoffs = [r.not_after for r in all_reqs if r.not_after is not None]
        cutoff = min(cutoffs) if cutoffs else None
        preferred = self.preferences.get(name)
        # Only an exact pin admits a yanked release (yanked_allowed): none, most often.
        pins = exact_pins(r.specifier for r in all_reqs)

        def admitted() -> Iterator[Release]:
            """The releases every requirement allows, newest first (the preferred version
            first), read only as far as resolvelib looks."""
            found = allowed_releases(releases, combined, prereleases)
            if cutoff is not None:
                # Releases without an upload time cannot be placed: they are admitted.
                found = (r for r in found if r.uploaded is None or r.uploaded <= cutoff)
            if preferred is None:
                return found
            release = _release_of(releases, preferred)
            if release is None:
                return found  # no such release: the order stays
            if not release.version.is_prerelease:
                # A final release is admitted or not whatever the others are (only
                # pre-releases wait on the rest), so it is checked alone and the rest
                # stay lazy.
                alone = allowed_releases((release,), combined, prereleases)
                if next(alone, None) is None or (
                    cutoff is not None
                    and release.uploaded is not None
                    and release.uploaded > cutoff
                ):
                    return found
                return itertools.chain((release,), (r for r in found if r is not release))
            ordered = list(found)
            ordered.sort(key=lambda r: r is not release)  # stable: newest first after
            return iter(ordered)

        def candidates() -> Iterator[Candidate]:
            """Built one release at a time: resolvelib rarely looks past the first few."""
            first = True
            for release in admitted():
                allow_yanked = bool(pins) and yanked_by_pins(pins, release.version)
                dist = release.choice(name, self.target, self.options, allow_yanked)
                if dist is None:
                    continue
                candidate = Candidate(
                    name=name,
                    version=release.version,
                    extras=extras,
                    dist=dist,
                    builds=not dist.is_wheel,
                    files=release.files,
                    uploaded=release.uploaded,
                )
                if bad and candidate in bad:
                    continue
                if self.ruled_out and (name, release.version) in self.ruled_out:
                    continue
                if candidate.builds and candidate.dist is not None:
                    # An sdist whose backend cannot prepare its metadata is passed over
                    # (as pip does), before the resolver pins it.
                    try:
                        self.repository.metadata(candidate)
                    except HookFailed as exc:
                        self.rule_out(name, release.version, exc)
                        continue
                    except InvalidMetadataError as exc:
                        # Invalid metadata rules the release out as a failing backend does.
                        failed = HookFailed(candidate.dist.filename, "metadata", exc.message)
                        self.rule_out(name, release.version, failed)
                        continue
                if first:
                    self.repository.prefetch_candidate(candidate)
                    first = False
                yield candidate

        return candidates

    def _combined(self, reqs: Sequence[Req]) -> SpecifierSet:
        """Every specifier of ``reqs`` as one set. The same requirements meet again as
        their project is asked for in each round and resolution, and the set keeps what
        its filter works out (the version ranges it admits): one set per combination,
        kept by the identity of the specifiers (with them, so that an id is never
        reused)."""
        specs = tuple(
            r.specifier for r in reqs if len(r.specifier) or r.specifier.prereleases is not None
        )
        if len(specs) == 1:
            return specs[0]
        key = tuple(map(id, specs))
        seen = self._combinations.get(key)
        if seen is not None and all(map(operator.is_, seen[0], specs)):
            return seen[1]
        combined = SpecifierSet()
        for spec in specs:
            combined &= spec
        self._combinations[key] = (specs, combined)
        return combined

    def _url_matches(
        self, urls: set[str], reqs: Sequence[Req], extras: frozenset[str], bad: set[Candidate]
    ) -> list[Candidate]:
        if len(urls) > 1:
            return []
        url = next(iter(urls))
        editable = any(r.url == url and r.kind == Kind.EDITABLE for r in self.direct.values())
        base = self.repository.url_candidate(url, editable)
        candidate = Candidate(
            base.name, base.version, extras, url, base.dist, base.builds, base.files, base.editable
        )
        if candidate in bad:
            return []
        if not all(r.specifier.contains(candidate.version, prereleases=True) for r in reqs):
            return []
        return [candidate]

    def _cutoff(self, candidate: Candidate) -> datetime | None:
        """With --build-deps-as-of-release, when the sdist a candidate builds from was
        uploaded (None: no cutoff, or the index gives no upload time)."""
        if not self.as_of_release:
            return None
        if candidate.dist is not None and not candidate.dist.is_wheel:
            sdists = [candidate.dist]
        else:
            sdists = [f for f in candidate.files if not f.is_wheel]
        times = [f.upload_time for f in sdists if f.upload_time is not None]
        if not times and candidate.name not in self._no_upload_time:
            self._no_upload_time.add(candidate.name)
            self.notice(
                f"note: the index gives no upload time for the sdist of {candidate}: "
                "--build-deps-as-of-release cannot limit its build requirements"
            )
        return min(times) if times else None

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        """Whether ``candidate`` (made for this identifier) meets ``requirement``: its
        specifier (pre-releases admitted, as a pin may be one), its URL for a direct
        reference, its upload cut-off. resolvelib asks again for every pin every round,
        so answers are kept by the identity of the pair: constant time after the first."""
        key = (id(requirement), id(candidate))
        seen = self._satisfied.get(key)
        if seen is not None and seen[0] is requirement and seen[1] is candidate:
            return seen[2]
        answer = self._satisfies(requirement, candidate)
        self._satisfied[key] = (requirement, candidate, answer)
        return answer

    def _satisfies(self, requirement: Req, candidate: Candidate) -> bool:
        if requirement.name == PYTHON:
            return requirement.specifier.contains(candidate.version, prereleases=True)
        if requirement.url and candidate.url and requirement.url != candidate.url:
            return False
        if requirement.not_after is not None and candidate.uploaded is not None:
            if candidate.uploaded > requirement.not_after:
                return False
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        """What pinning ``candidate`` adds: a Python requirement when its Requires-Python
        is not met by every version the target allows, its base project at the same
        version (for an extra), its Requires-Dist whose markers hold on the target
        (only what the extras add, for an extra), and, when it builds from an sdist, its
        build requirements as build edges (``build_edges``). Cost: its metadata (cached,
        or a download or a PEP 517 hook) and, for an sdist, its build requirements (a
        hook); the projects it names are prefetched. Invalid metadata of a release that
        has others rules it out and raises ``RuledOutWhilePinned``."""
        if candidate.name == PYTHON:
            return []
        try:
            meta = self.repository.metadata(candidate)
        except InvalidMetadataError as exc:
            if candidate.url is not None or candidate.dist is None:
                raise  # a direct reference has no other release to fall back to
            failed = HookFailed(candidate.dist.filename, "metadata", exc.message)
            self.rule_out(candidate.name, candidate.version, failed)
            raise RuledOutWhilePinned(self.ruled_out[(candidate.name, candidate.version)]) from None
        for note in meta.notes:
            if note not in self.lenient_notes:  # once per run, however often it is read
                self.lenient_notes.add(note)
                self.notice(f"note: {note}")
        deps: list[Req] = []
        if meta.requires_python is not None and not self.target.allows_python(meta.requires_python):
            deps.append(
                Req(
                    canonicalize_name(PYTHON),
                    frozenset(),
                    meta.requires_python,
                    Kind.RUNTIME,
                    f"python{meta.requires_python}",
                )
            )
        if candidate.extras:
            # The extra's candidate stands on the base candidate at the same version.
            deps.append(
                Req(
                    candidate.name,
                    frozenset(),
                    SpecifierSet(f"=={candidate.version}"),
                    Kind.EXTRA,
                    f"{candidate.name}=={candidate.version}",
                    url=candidate.url,
                )
            )
        extras = sorted(candidate.extras)
        for text in meta.requires_dist:
            req = parse_requirement(text)
            if candidate.extras:
                # Only what the extras add; the base candidate brings the rest.
                if req.marker is None or not self.target.evaluate(req.marker, extras):
                    continue
                if self.target.evaluate(req.marker, [""]):
                    continue
            elif not self.target.evaluate(req.marker, [""]):
                continue
            edge = self._runtime.get(text)
            if edge is None:
                edge = self._runtime[text] = Req.from_requirement(req, Kind.RUNTIME)
            deps.append(self._loose(candidate, edge))
        if candidate.builds and not candidate.extras:
            deps += [self._loose(candidate, edge) for edge in self.build_edges(candidate)]
        self.repository.prefetch(d.name for d in deps if d.name != PYTHON)
        return deps

    def build_edges(self, candidate: Candidate) -> list[Req]:
        """The build requirements of ``candidate`` on the target, as build edges (hard
        edges of a candidate that builds; buildable.py adds them softly for the rest)."""
        return self.build_edges_of(candidate, self.repository.build_requires(candidate))

    def build_edges_of(self, candidate: Candidate, texts: Iterable[str]) -> list[Req]:
        """``texts`` (build requirements of ``candidate``) as its build edges."""
        cutoff = self._cutoff(candidate)
        edges = []
        for text in texts:
            req = parse_requirement(text)
            if self.target.evaluate(req.marker, [""]):
                edges.append(replace(Req.from_requirement(req, Kind.BUILD), not_after=cutoff))
        return edges


def allowed_releases(
    releases: Sequence[Release], specifier: SpecifierSet, prereleases: bool | None
) -> Iterator[Release]:
    """The releases ``specifier`` admits (``SpecifierSet.filter``'s rule for pre-releases:
    with ``prereleases`` None, they count only when no final release is admitted), in
    the order of ``releases``, decided one at a time as they are read: a project's
    hundreds of versions were all filtered on every call of find_matches, and resolvelib
    mostly takes the first."""
    matched = specifier.filter(releases, prereleases=prereleases, key=_release_version)
    for release in matched:
        if prereleases is None and release.version.is_prerelease:
            # From here the filter may give a pre-release it admits in place or, at the
            # end, those it held back while no final release was admitted: the rest is
            # read whole and put back in the order of ``releases``.
            position = {id(item): index for index, item in enumerate(releases)}
            rest = [release, *matched]
            rest.sort(key=lambda item: position[id(item)])
            yield from rest
            return
        yield release


def _release_version(release: Release) -> Version:
    return release.version


def _release_of(releases: Sequence[Release], version: Version) -> Release | None:
    """The release of ``version`` among ``releases`` (newest first, as ``Repository``
    gives them), found by halving: a few comparisons instead of one per release."""
    low, high = 0, len(releases)
    while low < high:
        middle = (low + high) // 2
        if releases[middle].version > version:
            low = middle + 1
        else:
            high = middle
    if low < len(releases) and releases[low].version == version:
        return releases[low]
    return None


def _cause_keys(backtrack_causes: Sequence[RequirementInformation[Req, Candidate]]) -> set[str]:
    """The identifiers named by the last backtrack: its requirements' and their parents'."""
    causes = {cause.requirement.key for cause in backtrack_causes}
    causes |= {cause.parent.key for cause in backtrack_causes if cause.parent is not None}
    return causes


def _flags(
    information: Iterable[RequirementInformation[Req, Candidate]],
) -> tuple[bool, bool, bool]:
    """The parts of ``get_preference``'s key read from the requirements on an identifier:
    (not a direct reference, not an exact pin, not an input)."""
    pinned = direct = requested = False
    for info in information:
        requirement = info.requirement
        pinned = pinned or requirement.exact
        direct = direct or bool(requirement.url)
        requested = requested or info.parent is None
    return not direct, not pinned, not requested


def _preference(
    identifier: str,
    information: Iterable[RequirementInformation[Req, Candidate]],
    causes: set[str],
) -> tuple[bool, bool, bool, bool, bool, str]:
    """``Provider.get_preference``'s key, the causes already gathered."""
    direct, pinned, requested = _flags(information)
    return (identifier != PYTHON, direct, pinned, identifier not in causes, requested, identifier)


def _criteria_of(information: object) -> Mapping[str, Any] | None:
    """The criteria behind resolvelib's mapping of requirement information (an
    ``IteratorMapping`` over its criteria, each with an ``information`` list), or None
    when ``information`` is some other mapping (then read through its iterators)."""
    criteria = getattr(information, "_mapping", None)
    if type(information).__name__ != "IteratorMapping" or not isinstance(criteria, dict):
        return None
    if getattr(information, "_appends", None):
        return None
    return criteria


@dataclass(frozen=True)
class Resolution:
    """The resolver's result: chosen candidates and every requirement that led to them."""

    mapping: Mapping[str, Candidate]
    # identifier -> list of (requirement, parent candidate or None for an input)
    information: Mapping[str, Sequence[tuple[Req, Candidate | None]]]


def resolve(
    provider: Provider,
    roots: Sequence[Req],
    *,
    quiet: bool = False,
    max_rounds: int = 200_000,
    on_pin: Callable[[int], None] | None = None,
    on_reject: Callable[[int, str], None] | None = None,
) -> Resolution:
    """Run resolvelib; conflicts become a ResolutionError naming every requirement involved.
    ``on_pin`` hears how many projects are pinned so far (else a terminal line shows it)."""
    reporter = ProgressReporter(quiet, on_pin, on_reject)
    resolver: Resolver[Req, Candidate, str] = CompactResolver(provider, reporter)
    try:
        result = resolver.resolve(roots, max_rounds=max_rounds)
    except ResolutionImpossible as exc:
        raise ResolutionError(explain_conflict(list(exc.causes), provider)) from None
    except ResolutionTooDeep:
        raise ResolutionError(
            f"resolution did not finish within {max_rounds} rounds; "
            "narrow the requirements to help it"
        ) from None
    information = {
        key: [(info.requirement, info.parent) for info in criterion.information]
        for key, criterion in result.criteria.items()
    }
    return Resolution(dict(result.mapping), information)


def input_roots(requirements: Sequence[InputRequirement], target: Target) -> list[Req]:
    """The resolver's root requirements: inputs whose markers hold on the target."""
    roots: list[Req] = []
    for item in requirements:
        if not target.evaluate(item.requirement.marker, [""]):
            continue
        kind = Kind.PROJECT if item.project else Kind.EDITABLE if item.editable else Kind.INPUT
        roots.append(
            Req.from_requirement(
                item.requirement, kind, url=item.url, origin=str(item.origin), via=item.via
            )
        )
    return roots
