"""conflict: why a resolution failed, as a table of causes and what the reader is told:
each requirement with where it came from (build edges labelled), per project what the
index offers, constraints and build overrides that bind it, and releases ruled out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from lockbuild.build.hookfail import HookFailed
from lockbuild.dists.metadata import CoreMetadata
from lockbuild.index.listing import Listing, make_dist_file
from lockbuild.model import PYTHON, Candidate, Kind, Req
from lockbuild.resolve.conflict import describe_requirement, explain_conflict
from lockbuild.resolve.provider import Provider, Release
from lockbuild.spec import IndexOptions
from lockbuild.target import for_platform

pytestmark = pytest.mark.unit

TARGET = for_platform("3.11", ["manylinux_2_28_x86_64"])


class Repo:
    """Releases by name (versions only, one pure wheel each); ``dropped`` counts files
    unusable on the target."""

    def __init__(self, versions: Mapping[str, Sequence[str]], dropped: int = 0) -> None:
        self.versions = versions
        self.dropped = dropped

    def releases(self, name: NormalizedName) -> Sequence[Release]:
        found = []
        for text in self.versions.get(name, ()):
            wheel = make_dist_file(f"{name}-{text}-py3-none-any.whl", f"mem:{name}")
            assert wheel is not None
            listing = Listing(wheel.filename, name, Version(text), text, None, lambda w=wheel: w)
            found.append(Release(Version(text), (listing,)))
        return sorted(found, key=lambda r: r.version, reverse=True)

    def metadata(self, candidate: Candidate) -> CoreMetadata:
        raise AssertionError("not asked when explaining")

    def build_requires(self, candidate: Candidate) -> Sequence[str]:
        return ()

    def url_candidate(self, url: str, editable: bool) -> Candidate:
        raise AssertionError("no URLs")

    def prefetch(self, names: Iterable[str]) -> None:
        pass

    def prefetch_candidate(self, candidate: Candidate) -> None:
        pass

    def unusable_files(self, name: NormalizedName) -> int:
        return self.dropped


def req(text: str, kind: Kind = Kind.RUNTIME, origin: str | None = None) -> Req:
    return Req.from_requirement(Requirement(text), kind, origin=origin)


def cand(name: str, version: str) -> Candidate:
    return Candidate(canonicalize_name(name), Version(version))


Info = RequirementInformation[Req, Candidate]


@pytest.mark.parametrize(
    ("requirement", "parent", "line"),
    [
        (
            req("numpy>=2", Kind.INPUT, "requirements.in line 2"),
            None,
            "requirements.in line 2: numpy>=2",
        ),
        (req("numpy<2"), cand("scipy", "1.9"), "scipy 1.9 requires numpy<2"),
        (
            req("numpy<2", Kind.BUILD),
            cand("pyworld", "0.3"),
            "pyworld 0.3 (build) requires numpy<2",
        ),
        (
            Req(
                canonicalize_name(PYTHON),
                frozenset(),
                SpecifierSet(">=3.12"),
                Kind.RUNTIME,
                "python>=3.12",
            ),
            cand("new", "1.0"),
            "new 1.0 requires Python >=3.12",
        ),
        (
            Req(
                canonicalize_name("cython"),
                frozenset(),
                SpecifierSet(),
                Kind.BUILD,
                "cython",
                not_after=datetime(2020, 1, 2, tzinfo=UTC),
            ),
            cand("old", "1.0"),
            "old 1.0 (build) requires cython uploaded by 2020-01-02T00:00:00+00:00 "
            "(--build-deps-as-of-release)",
        ),
        (
            Req(
                canonicalize_name("x"), frozenset(), SpecifierSet(), Kind.INPUT, "x", via="-r a.in"
            ),
            None,
            "-r a.in: x",
        ),
    ],
)
def test_describe_requirement(requirement: Req, parent: Candidate | None, line: str) -> None:
    assert describe_requirement(requirement, parent) == line


def _explain(
    causes: list[Info],
    repo: Repo,
    *,
    constraints: Sequence[Req] = (),
    overrides: Sequence[Req] = (),
) -> str:
    provider = Provider(
        repo, TARGET, IndexOptions(), constraints=constraints, build_overrides=overrides
    )
    return explain_conflict(causes, provider)


@pytest.mark.parametrize(
    ("causes", "versions", "dropped", "expected"),
    [
        (
            [
                Info(req("numpy>=2", Kind.INPUT, "in line 1"), None),
                Info(req("numpy<2"), cand("scipy", "1.9")),
            ],
            {"numpy": ["1.26", "2.0"]},
            0,
            [
                "cannot resolve: conflicting requirements for numpy:",
                "  in line 1: numpy>=2",
                "  scipy 1.9 requires numpy<2",
            ],
        ),
        (
            [Info(req("numpy>=9", Kind.INPUT, "in line 1"), None)],
            {"numpy": ["1.26", "2.0"]},
            0,
            [
                "cannot resolve: no version of numpy satisfies this and has a file usable on "
                f"{TARGET.description} (available: 2.0, 1.26):",
                "  in line 1: numpy>=9",
            ],
        ),
        (
            [Info(req("ghost", Kind.INPUT, "in line 1"), None)],
            {},
            0,
            [
                "cannot resolve: no distributions of ghost found on any index or find-links:",
                "  in line 1: ghost",
            ],
        ),
        (
            [Info(req("winonly", Kind.INPUT, "in line 1"), None)],
            {},
            3,
            [
                f"cannot resolve: no version of winonly has a file usable on {TARGET.description} "
                "(3 wheels for other platforms or Pythons):",
                "  in line 1: winonly",
            ],
        ),
    ],
)
def test_explain(
    causes: list[Info], versions: dict[str, list[str]], dropped: int, expected: list[str]
) -> None:
    assert _explain(causes, Repo(versions, dropped)).splitlines() == expected


def test_many_versions_are_cut_short() -> None:
    repo = Repo({"a": [f"1.{i}" for i in range(12)]})
    text = _explain([Info(req("a>5", Kind.INPUT, "in line 1"), None)], repo)
    assert "(available: 1.11, 1.10, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4 ...)" in text


def test_the_same_cause_twice_is_named_once() -> None:
    cause = Info(req("numpy<2"), cand("scipy", "1.9"))
    other = Info(req("numpy>=2", Kind.INPUT, "in line 1"), None)
    text = _explain([cause, other, cause], Repo({"numpy": ["1.0"]}))
    assert text.count("scipy 1.9 requires numpy<2") == 1


def test_constraints_and_build_overrides_are_named() -> None:
    causes = [
        Info(req("cython>=3", Kind.BUILD), cand("pyworld", "0.3")),
        Info(req("cython<3", Kind.INPUT, "in line 1"), None),
    ]
    text = _explain(
        causes,
        Repo({"cython": ["0.29", "3.0"]}),
        constraints=[
            Req.from_requirement(
                Requirement("cython!=3.0.1"), Kind.CONSTRAINT, origin="c.txt line 1"
            )
        ],
        overrides=[
            Req.from_requirement(Requirement("cython<3.1"), Kind.OVERRIDE, origin="o.txt line 4")
        ],
    )
    assert "  pyworld 0.3 (build) requires cython>=3" in text
    assert "  c.txt line 1: cython!=3.0.1 (constraint)" in text
    assert "  o.txt line 4: cython<3.1 (build override)" in text


def test_overrides_are_not_named_for_runtime_edges() -> None:
    text = _explain(
        [
            Info(req("cython>=3", Kind.INPUT, "in line 1"), None),
            Info(req("cython<3"), cand("a", "1")),
        ],
        Repo({"cython": ["3.0"]}),
        overrides=[
            Req.from_requirement(Requirement("cython<3.1"), Kind.OVERRIDE, origin="o.txt line 4")
        ],
    )
    assert "build override" not in text


def test_the_python_of_the_target() -> None:
    python = Req(
        canonicalize_name(PYTHON), frozenset(), SpecifierSet(">=3.12"), Kind.RUNTIME, "python>=3.12"
    )
    text = _explain([Info(python, cand("new", "2.0"))], Repo({}))
    assert text.splitlines() == [
        f"cannot resolve: the target Python {TARGET.python_version} is not supported:",
        "  new 2.0 requires Python >=3.12",
    ]


@pytest.mark.parametrize(("timed_out", "hinted"), [(False, True), (True, False)])
def test_ruled_out_releases_and_the_hint(timed_out: bool, hinted: bool) -> None:
    provider = Provider(Repo({"old": ["1.0"]}), TARGET, IndexOptions())
    reason = (
        "timed out after 900 s" if timed_out else "failed: error: invalid command 'bdist_wheel'"
    )
    provider.rule_out(
        canonicalize_name("old"),
        Version("1.0"),
        HookFailed(
            "old-1.0.tar.gz", "prepare_metadata_for_build_wheel", reason, Path("/logs/old.log")
        ),
    )
    text = explain_conflict([Info(req("old", Kind.INPUT, "in line 1"), None)], provider)
    lines = text.splitlines()
    assert lines[0] == (
        "cannot resolve: no usable release of old: "
        "the build backend failed for every release that fits:"
    )
    assert (
        f"  ruled out old 1.0: prepare_metadata_for_build_wheel: {reason} (full log: /logs/old.log)"
        in lines
    )
    assert any("--build-constraint" in line for line in lines) is hinted
