"""The pure core — provider, resolution and graph — against an in-memory repository:
no network, no disk, no subprocess."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from lockbuild.build.hookfail import HookFailed
from lockbuild.dists.metadata import CoreMetadata
from lockbuild.errors import ResolutionError
from lockbuild.index.listing import Listing, make_dist_file
from lockbuild.model import Candidate, DistFile, Kind, Req
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.provider import Provider, Release, allowed_releases, resolve
from lockbuild.spec import IndexOptions
from lockbuild.target import current

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`

TARGET = current()


@dataclass
class Version_:
    wheel: bool = True
    requires: Sequence[str] = ()
    build: Sequence[str] = ()
    sdist: bool = False  # an sdist as well as (or instead of) the wheel
    fails: bool = False  # its build backend fails to prepare its metadata
    uploaded: str | None = None  # PEP 700 upload time of its files


@dataclass
class FakeRepository:
    """Projects as ``{name: {version: Version_}}``; records what was asked."""

    projects: Mapping[str, Mapping[str, Version_]]
    asked_metadata: list[str] = field(default_factory=list)

    def _files(self, name: str, version: str, spec: Version_) -> list[DistFile]:
        files = []
        when = spec.uploaded
        if spec.wheel:
            wheel = f"{name}-{version}-py3-none-any.whl"
            files.append(make_dist_file(wheel, f"mem:{name}", upload_time=when))
        if spec.sdist or not spec.wheel:
            sdist = f"{name}-{version}.tar.gz"
            files.append(make_dist_file(sdist, f"mem:{name}", upload_time=when))
        return [f for f in files if f is not None]

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        found = []
        for version, spec in self.projects.get(name, {}).items():
            listings = tuple(
                Listing(f.filename, name, Version(version), version, spec.uploaded, lambda f=f: f)
                for f in self._files(name, version, spec)
            )
            found.append(Release(Version(version), listings))
        return sorted(found, key=lambda r: r.version, reverse=True)

    def metadata(self, candidate: Candidate) -> CoreMetadata:
        self.asked_metadata.append(f"{candidate.name}=={candidate.version}")
        spec = self.projects[candidate.name][str(candidate.version)]
        if spec.fails:
            raise HookFailed(
                f"{candidate.name}-{candidate.version}.tar.gz",
                "prepare_metadata_for_build_wheel",
                "failed: AttributeError: 'build_ext' object has no attribute 'cython_sources'",
                Path(f"/logs/{candidate.name}-{candidate.version}.log"),
            )
        return CoreMetadata(
            candidate.name, candidate.version, tuple(spec.requires), None, frozenset(), "2.1"
        )

    def build_requires(self, candidate: Candidate) -> Sequence[str]:
        return self.projects[candidate.name][str(candidate.version)].build

    def url_candidate(self, url: str, editable: bool) -> Candidate:
        raise AssertionError("no URLs here")

    def prefetch(self, names: Iterable[str]) -> None:
        pass

    def prefetch_candidate(self, candidate: Candidate) -> None:
        pass

    def unusable_files(self, name: NormalizedName) -> int:
        return 0


def roots(*texts: str) -> list[Req]:
    return [
        Req.from_requirement(Requirement(t), Kind.INPUT, origin=f"in line {i}", via="-r in")
        for i, t in enumerate(texts, start=1)
    ]


def lock(repo: FakeRepository, *texts: str, **provider_args: Any) -> graphs.DiGraph:
    provider = Provider(repo, TARGET, IndexOptions(), **provider_args)
    return graphs.build_graph(resolve(provider, roots(*texts), quiet=True))


def versions(graph: graphs.DiGraph, names: Iterable[str]) -> dict[str, str]:
    return {p.name: p.version for p in graphs.pins(graph, names)}


def test_build_requirements_join_the_resolution_and_backtrack() -> None:
    repo = FakeRepository(
        {
            "corelib": {"1.5": Version_(), "2.0": Version_()},
            "extmod": {
                "1.0": Version_(wheel=False, build=["corelib"]),
                "2.0": Version_(wheel=False, build=["corelib>=2"]),
            },
        }
    )
    graph = lock(repo, "corelib==1.5", "extmod")
    assert versions(graph, graphs.runtime_set(graph)) == {"corelib": "1.5", "extmod": "1.0"}
    assert versions(graph, graphs.build_set(graph)) == {"corelib": "1.5"}


def test_conflict_message_labels_build_edges() -> None:
    repo = FakeRepository(
        {
            "corelib": {"1.5": Version_(), "2.0": Version_()},
            "extmod": {"2.0": Version_(wheel=False, build=["corelib>=2"])},
        }
    )
    with pytest.raises(ResolutionError) as info:
        lock(repo, "corelib==1.5", "extmod")
    message = str(info.value)
    assert "extmod 2.0 (build) requires corelib>=2" in message
    assert "in line 1: corelib==1.5" in message


def test_recursive_build_environments_and_their_runtime_closure() -> None:
    repo = FakeRepository(
        {
            "app": {"1.0": Version_(wheel=False, build=["tool"])},
            "tool": {"1.0": Version_(wheel=False, build=["helper"], requires=["toollib"])},
            "helper": {"1.0": Version_()},
            "toollib": {"1.0": Version_()},
        }
    )
    graph = lock(repo, "app")
    assert versions(graph, graphs.runtime_set(graph)) == {"app": "1.0"}
    assert set(graphs.build_set(graph)) == {"tool", "helper", "toollib"}


def test_extras_bring_their_dependencies_only() -> None:
    repo = FakeRepository(
        {
            "gamma": {"1.0": Version_(requires=['delta; extra == "fast"', "beta"])},
            "delta": {"1.0": Version_()},
            "beta": {"1.0": Version_()},
        }
    )
    assert set(graphs.runtime_set(lock(repo, "gamma"))) == {"gamma", "beta"}
    assert set(graphs.runtime_set(lock(repo, "gamma[fast]"))) == {"gamma", "beta", "delta"}


def test_preferences_keep_existing_pins() -> None:
    repo = FakeRepository({"beta": {"1.0": Version_(), "2.0": Version_()}})
    graph = lock(repo, "beta", preferences={canonicalize_name("beta"): Version("1.0")})
    assert versions(graph, graphs.runtime_set(graph)) == {"beta": "1.0"}
    graph = lock(repo, "beta>=2", preferences={canonicalize_name("beta"): Version("1.0")})
    assert versions(graph, graphs.runtime_set(graph)) == {"beta": "2.0"}


def test_only_the_chosen_release_is_read() -> None:
    """Candidates are built lazily: older releases are never looked at."""
    repo = FakeRepository({"beta": {str(v): Version_() for v in range(1, 50)}})
    lock(repo, "beta")
    assert repo.asked_metadata == ["beta==49"]


def test_build_overrides_bind_build_edges() -> None:
    repo = FakeRepository(
        {
            "yamlish": {"1.0": Version_(wheel=False, build=["cythonish"])},
            "cythonish": {"2.0": Version_(), "3.0": Version_()},
        }
    )
    override = Req.from_requirement(
        Requirement("cythonish<3"), Kind.OVERRIDE, origin="o.txt line 1", via="build override"
    )
    graph = lock(repo, "yamlish", build_overrides=[override])
    assert versions(graph, graphs.build_set(graph)) == {"cythonish": "2.0"}


def test_target_identity_ignores_kernel_and_patch_release() -> None:
    """check must not call a lock stale because CI runs another kernel or 3.X.Y."""
    from dataclasses import replace

    env = dict(TARGET.environment)
    env.update(platform_release="9.9.9-other", python_full_version="3.11.99")
    other = replace(TARGET, environment=tuple(sorted(env.items())))
    assert other.identity() == TARGET.identity()
    env["sys_platform"] = "win32"
    assert replace(TARGET, environment=tuple(sorted(env.items()))).identity() != TARGET.identity()


def test_extra_candidates_honor_the_base_projects_requirements() -> None:
    """kombu<6 binds kombu[redis] too (as in pip): kombu 6.0 is never even looked at."""
    repo = FakeRepository(
        {
            "kombu": {
                "6.0": Version_(requires=['redis; extra == "redis"']),
                "5.0": Version_(requires=['redis; extra == "redis"']),
            },
            "celery": {"1.0": Version_(requires=["kombu[redis]"])},
            "redis": {"1.0": Version_()},
        }
    )
    graph = lock(repo, "kombu<6", "celery")
    assert versions(graph, graphs.runtime_set(graph)) == {
        "kombu": "5.0",
        "celery": "1.0",
        "redis": "1.0",
    }
    assert "kombu==6.0" not in repo.asked_metadata


def test_failing_backend_rules_out_the_release_and_resolution_goes_on() -> None:
    repo = FakeRepository(
        {
            "pyyamlish": {
                "2.0": Version_(wheel=False, fails=True),
                "1.0": Version_(wheel=False),
            }
        }
    )
    notices: list[str] = []
    provider = Provider(repo, TARGET, IndexOptions(), notice=notices.append)
    graph = graphs.build_graph(resolve(provider, roots("pyyamlish"), quiet=True))
    assert versions(graph, graphs.runtime_set(graph)) == {"pyyamlish": "1.0"}
    assert notices == [
        "note: ruled out pyyamlish 2.0: prepare_metadata_for_build_wheel: failed: "
        "AttributeError: 'build_ext' object has no attribute 'cython_sources' "
        "(full log: /logs/pyyamlish-2.0.log)"
    ]
    assert list(provider.ruled_out) == [(canonicalize_name("pyyamlish"), Version("2.0"))]


def test_every_release_ruled_out_is_listed_one_line_each() -> None:
    repo = FakeRepository(
        {"oldpkg": {v: Version_(wheel=False, fails=True) for v in ("2.0", "1.0")}}
    )
    with pytest.raises(ResolutionError) as info:
        lock(repo, "oldpkg")
    lines = str(info.value).splitlines()
    assert "  in line 1: oldpkg" in lines
    for version in ("2.0", "1.0"):
        assert (
            f"  ruled out oldpkg {version}: prepare_metadata_for_build_wheel: failed: "
            "AttributeError: 'build_ext' object has no attribute 'cython_sources' "
            f"(full log: /logs/oldpkg-{version}.log)"
        ) in lines
    assert "--build-deps-as-of-release may help" in lines[-1]
    assert " | " not in str(info.value)


def test_as_of_release_admits_only_build_tools_no_newer_than_the_sdist() -> None:
    repo = FakeRepository(
        {
            "oldext": {
                "1.0": Version_(wheel=False, build=["tool"], uploaded="2021-01-20T00:00:00Z")
            },
            "tool": {
                "1.0": Version_(uploaded="2020-06-01T00:00:00Z"),
                "2.0": Version_(uploaded="2023-07-17T00:00:00Z"),
            },
        }
    )
    graph = lock(repo, "oldext")
    assert versions(graph, graphs.build_set(graph)) == {"tool": "2.0"}
    graph = lock(repo, "oldext", as_of_release=True)
    assert versions(graph, graphs.build_set(graph)) == {"tool": "1.0"}
    # Jointly resolved: a runtime requirement on tool gets the same, older version...
    graph = lock(repo, "oldext", "tool", as_of_release=True)
    assert versions(graph, graphs.runtime_set(graph)) == {"oldext": "1.0", "tool": "1.0"}
    # ...and one that cannot have it is a conflict naming the cutoff.
    with pytest.raises(ResolutionError, match="uploaded by 2021-01-20"):
        lock(repo, "oldext", "tool>=2", as_of_release=True)


def test_failing_backend_rules_out_the_release_for_its_extras_too() -> None:
    repo = FakeRepository(
        {
            "kombu": {
                "2.0": Version_(wheel=False, fails=True),
                "1.0": Version_(wheel=False, requires=['redis; extra == "redis"']),
            },
            "redis": {"1.0": Version_()},
        }
    )
    graph = lock(repo, "kombu[redis]")
    assert versions(graph, graphs.runtime_set(graph)) == {"kombu": "1.0", "redis": "1.0"}


@pytest.mark.parametrize(
    ("static", "expected"),
    [
        (["tool"], ["tool==1.0", "toollib==1.0"]),  # a static requirement and its runtime deps
        (["Tool>=1"], ["tool==1.0", "toollib==1.0"]),  # names are read from the requirement
        ([], []),  # everything came from the hook: nothing to run it with
        (["other"], []),  # a name that is not a build edge of the release is not in it
    ],
)
def test_hook_environment_of_a_release(static: list[str], expected: list[str]) -> None:
    repo = FakeRepository(
        {
            "app": {"1.0": Version_(wheel=False, build=["tool"])},
            "tool": {"1.0": Version_(requires=["toollib"])},
            "toollib": {"1.0": Version_()},
        }
    )
    assert graphs.hook_environment(lock(repo, "app"), "app", static) == expected


# allowed_releases decides release by release what SpecifierSet.filter decides over the
# whole list (pre-releases only when no final is admitted, or when the specifier or
# --pre admits them), in the releases' order: a table against filter itself.
@pytest.mark.parametrize(
    ("specifier", "versions", "prereleases"),
    [
        ("", ["3.0", "2.0", "1.0"], None),
        (">=2", ["3.0", "2.1", "2.0", "1.0"], None),
        ("<2", ["3.0", "2.0", "1.9", "1.0"], None),
        (">=2", ["3.0b1", "2.5", "2.0rc1", "1.0"], None),  # finals admitted: no pre-releases
        (">=2", ["3.0b1", "2.0rc1", "1.0"], None),  # only pre-releases match: all of them
        ("", ["2.0a1", "1.0b2"], None),
        (">=2.0rc1", ["3.0b1", "2.1", "2.0rc2", "2.0rc1", "1.0"], None),  # asked for by name
        (">=2.0rc1,<2.1", ["3.0b1", "2.1a1", "2.0rc2", "2.0rc1", "1.0"], None),
        (">=2.0rc1", ["3.0b1", "2.0rc2", "1.9rc1", "1.0"], None),
        (">=2", ["3.0b1", "2.5", "2.0rc1"], True),  # --pre
        ("==2.*", ["3.0", "2.1.dev1", "2.0", "1.0"], None),
        ("==1.0", ["1.0.0", "1.0", "0.9"], None),
        ("!=2.0", ["2.0", "2.0.post1", "1.0"], None),
        (">5", ["3.0", "2.0"], None),
        ("", [], None),
    ],
)
def test_allowed_releases_agree_with_specifier_filter(
    specifier: str, versions: list[str], prereleases: bool | None
) -> None:
    releases = [Release(Version(v), ()) for v in versions]
    spec = SpecifierSet(specifier)
    admitted = {str(v) for v in spec.filter([Version(v) for v in versions], prereleases)}
    expected = [r for r in releases if str(r.version) in admitted]
    assert list(allowed_releases(releases, spec, prereleases)) == expected


def test_allowed_releases_read_only_as_far_as_asked() -> None:
    seen: list[str] = []

    class Counted(list[Release]):
        def __iter__(self) -> Any:
            for release in super().__iter__():
                seen.append(str(release.version))
                yield release

    releases = Counted(Release(Version(v), ()) for v in ["5.0", "4.0", "3.0", "2.0", "1.0"])
    first = next(allowed_releases(releases, SpecifierSet("<4"), None))
    assert str(first.version) == "3.0"
    assert seen == ["5.0", "4.0", "3.0"]


def test_narrowing_picks_what_get_preference_puts_first() -> None:
    """narrow_requirement_selection returns the one identifier get_preference's key puts
    first: the Python requirement, direct references, exact pins, backtrack causes,
    inputs, then by name."""
    provider = Provider(FakeRepository({}), TARGET, IndexOptions())

    def req(text: str, url: str | None = None) -> Req:
        return Req.from_requirement(Requirement(text), Kind.RUNTIME, url=url)

    parent = Candidate(canonicalize_name("parent"), Version("1"))
    info = RequirementInformation
    cases: list[tuple[dict[str, list[Any]], list[Any], str]] = [
        ({"b": [info(req("b"), parent)], "a": [info(req("a"), parent)]}, [], "a"),
        ({"a": [info(req("a"), parent)], "b": [info(req("b==1"), parent)]}, [], "b"),
        ({"a": [info(req("a==1"), parent)], "z": [info(req("z"), None)]}, [], "a"),
        ({"a": [info(req("a"), parent)], "z": [info(req("z"), None)]}, [], "z"),
        (
            {"a": [info(req("a"), None)], "y": [info(req("y"), parent)]},
            [info(req("y"), parent)],
            "y",
        ),
        (
            {"a": [info(req("a"), parent)], "parent": [info(req("parent"), parent)]},
            [info(req("q"), parent)],
            "parent",
        ),
        (
            {"a": [info(req("a==1"), None)], "d": [info(req("d @ file:///d"), parent)]},
            [],
            "d",
        ),
        (
            {"a": [info(req("a==1"), None)], "<python>": [info(req("a"), parent)]},
            [],
            "<python>",
        ),
    ]
    for information, causes, expected in cases:
        views = {key: iter(value) for key, value in information.items()}
        [chosen] = provider.narrow_requirement_selection(list(information), {}, {}, views, causes)
        keys = {
            key: provider.get_preference(
                key, {}, {}, {k: iter(v) for k, v in information.items()}, causes
            )
            for key in information
        }
        assert chosen == expected == min(keys, key=keys.__getitem__)


def test_markers_are_evaluated_once_per_marker_and_extra() -> None:
    target = current()
    requirement = Requirement('a; python_version >= "3" and extra == "x"')
    assert requirement.marker is not None
    assert target.evaluate(requirement.marker, ["x"]) is True
    assert target.evaluate(requirement.marker, [""]) is False
    assert target.evaluate(requirement.marker, ["", "x"]) is True
    cache = target.__dict__["_marker_cache"]
    assert {key[1] for key in cache} == {"", "x"}
    # The same text parsed again is another marker: never confused by identity.
    other = Requirement('a; extra == "y"')
    assert other.marker is not None
    assert target.evaluate(other.marker, ["x"]) is False
    assert target.evaluate(other.marker, ["y"]) is True


def offered(
    provider: Provider, text: str, not_after: str | None = None, name: str = "beta"
) -> list[str]:
    """The versions find_matches offers for one requirement, in its order."""
    req = Req.from_requirement(Requirement(text), Kind.INPUT)
    if not_after is not None:
        from dataclasses import replace

        req = replace(req, not_after=datetime.fromisoformat(not_after))
    matches = provider.find_matches(name, {name: iter([req])}, {name: iter([])})
    assert callable(matches)
    return [str(c.version) for c in matches()]


@pytest.mark.parametrize(
    ("versions", "text", "preferred", "pre", "expected"),
    [
        (["3.0", "2.0", "1.0"], "beta", "2.0", False, ["2.0", "3.0", "1.0"]),
        (["3.0", "2.0", "1.0"], "beta", "1.0", False, ["1.0", "3.0", "2.0"]),
        (["3.0", "2.0", "1.0"], "beta", "3.0", False, ["3.0", "2.0", "1.0"]),
        (["3.0", "2.0", "1.0"], "beta>=2", "1.0", False, ["3.0", "2.0"]),  # not admitted
        (["3.0", "2.0", "1.0"], "beta!=2.0", "2.0", False, ["3.0", "1.0"]),
        (["3.0", "2.0", "1.0"], "beta", "2.5", False, ["3.0", "2.0", "1.0"]),  # no such one
        (["3.0", "2.0", "1.0"], "beta", "9.0", False, ["3.0", "2.0", "1.0"]),
        (["3.0", "2.0", "1.0"], "beta", "0.1", False, ["3.0", "2.0", "1.0"]),
        (["3.0", "2.0.0", "1.0"], "beta", "2", False, ["2.0.0", "3.0", "1.0"]),  # equal
        (["3.0b1", "2.0", "1.0"], "beta", "3.0b1", False, ["2.0", "1.0"]),  # pre-release
        (["3.0b1", "2.0", "1.0"], "beta", "3.0b1", True, ["3.0b1", "2.0", "1.0"]),  # --pre
        (["3.0b1", "2.0", "1.0"], "beta", "1.0", True, ["1.0", "3.0b1", "2.0"]),
        (["3.0b1", "2.0b1", "1.0"], "beta>=2", "2.0b1", False, ["3.0b1"]),  # 2.0b1 < 2
        (["3.0b1", "2.0b1", "1.0"], "beta>=2.0b1", "2.0b1", False, ["2.0b1", "3.0b1"]),
        (["3.0", "2.0rc1", "1.0"], "beta>=2.0rc1", "2.0rc1", False, ["2.0rc1", "3.0"]),
        (["3.0", "2.0", "1.0"], "beta==2.0", "2.0", False, ["2.0"]),
        (["3.0", "2.0", "1.0"], "beta==2.*", "1.0", False, ["2.0"]),
        (["3.0", "2.0", "1.0"], "beta", None, False, ["3.0", "2.0", "1.0"]),
    ],
)
def test_preferred_version_is_offered_first_when_admitted(
    versions: list[str], text: str, preferred: str | None, pre: bool, expected: list[str]
) -> None:
    """find_matches offers the preferred release first when the requirements admit it,
    then the others newest first (as a stable sort of the admitted releases would)."""
    repo = FakeRepository({"beta": {v: Version_() for v in versions}})
    prefs = {} if preferred is None else {canonicalize_name("beta"): Version(preferred)}
    provider = Provider(repo, TARGET, IndexOptions(pre=pre), preferences=prefs)
    admitted = [
        str(v)
        for v in SpecifierSet(str(Requirement(text).specifier)).filter(
            [Version(v) for v in versions], prereleases=True if pre else None
        )
    ]
    if preferred is not None:
        admitted.sort(key=lambda v: Version(v) != Version(preferred))
    assert offered(provider, text) == admitted == expected


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        ("2.0", ["2.0", "1.0"]),  # uploaded before the cut-off
        ("3.0", ["2.0", "1.0"]),  # uploaded after it: not admitted
        ("1.0", ["1.0", "2.0"]),
    ],
)
def test_preferred_version_and_an_upload_cutoff(preferred: str, expected: list[str]) -> None:
    repo = FakeRepository(
        {
            "beta": {
                "3.0": Version_(uploaded="2024-03-01T00:00:00Z"),
                "2.0": Version_(uploaded="2024-02-01T00:00:00Z"),
                "1.0": Version_(uploaded="2024-01-01T00:00:00Z"),
            }
        }
    )
    prefs = {canonicalize_name("beta"): Version(preferred)}
    provider = Provider(repo, TARGET, IndexOptions(), preferences=prefs)
    assert offered(provider, "beta", not_after="2024-02-15T00:00:00+00:00") == expected


def test_combined_specifiers_are_made_once_per_combination() -> None:
    """The specifiers on a project are combined once per combination (the set keeps the
    ranges its filter works out), and the combination admits what their ``&`` admits."""
    provider = Provider(FakeRepository({}), TARGET, IndexOptions())

    def req(text: str) -> Req:
        return Req.from_requirement(Requirement(text), Kind.RUNTIME)

    low, high, free, other = req("b>=1"), req("b<3,!=2.0"), req("b"), req("b>=1")
    both = provider._combined([low, free, high])
    assert provider._combined([low, high]) is both
    assert provider._combined([low, other, high]) is not both  # other specifier objects
    assert provider._combined([low]) is low.specifier
    assert provider._combined([free]) == SpecifierSet()
    assert both == low.specifier & high.specifier
    versions = [Version(v) for v in ("0.5", "1.0", "2.0", "2.5", "3.0")]
    assert list(both.filter(versions)) == [Version("1.0"), Version("2.5")]
    anything = SpecifierSet(prereleases=True)
    pre = Req(canonicalize_name("b"), frozenset(), anything, Kind.RUNTIME, "b")
    assert provider._combined([pre, low]).prereleases is True
    assert list(provider._combined([pre, low]).filter([Version("2.0b1")])) == [Version("2.0b1")]


def test_narrowing_reads_resolvelibs_criteria_once_per_information_list() -> None:
    """With resolvelib's own view of the criteria, narrowing picks what get_preference
    puts first, and reads an identifier's requirements again only when its criterion
    holds a new list of them."""
    from resolvelib.resolvers.criterion import Criterion
    from resolvelib.structs import IteratorMapping

    provider = Provider(FakeRepository({}), TARGET, IndexOptions())
    parent = Candidate(canonicalize_name("parent"), Version("1"))
    info = RequirementInformation

    def req(text: str) -> Req:
        return Req.from_requirement(Requirement(text), Kind.RUNTIME)

    a_list = [info(req("a"), parent)]
    criteria: dict[str, Any] = {
        "a": Criterion([], a_list, []),
        "b": Criterion([], [info(req("b"), parent)], []),
    }

    def narrow(causes: list[Any]) -> str:
        view = IteratorMapping(criteria, lambda c: c.information)
        [chosen] = provider.narrow_requirement_selection(list(criteria), {}, {}, view, causes)
        plain = {k: iter(c.information) for k, c in criteria.items()}
        keys = {k: provider.get_preference(k, {}, {}, plain, causes) for k in criteria}
        assert chosen == min(keys, key=keys.__getitem__)
        return chosen

    assert narrow([]) == "a"
    assert provider._flags["a"][0] is a_list
    criteria["b"] = Criterion([], [info(req("b"), parent), info(req("b==1"), parent)], [])
    assert narrow([]) == "b"  # a new list: read again, now an exact pin
    assert narrow([info(req("a"), parent)]) == "b"
    criteria["a"] = Criterion([], [info(req("a"), None)], [])
    assert narrow([]) == "b"
    criteria["b"] = Criterion([], [info(req("b"), parent)], [])
    assert narrow([]) == "a"  # an input now, b no longer pinned
    assert narrow([info(req("b"), parent)]) == "b"
