"""--build-deps-for all on the pure core: the build sides of releases installed from
wheels join a finished lock where they fit, and never move a pin of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from lockbuild.build.hookfail import HookFailed
from lockbuild.errors import DistError, FetchError, ResolutionError
from lockbuild.lock.lockfile import parse_lockfile
from lockbuild.lock.model import NOT_BUILDABLE
from lockbuild.model import Candidate
from lockbuild.resolve import buildable
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.provider import Provider, Resolution, resolve
from lockbuild.spec import IndexOptions
from tests.test_resolve import TARGET, FakeRepository, Version_, roots, versions

pytestmark = pytest.mark.unit


def extend(
    repo: FakeRepository, *texts: str, ask_hooks: buildable.AskHooks | None = None
) -> tuple[graphs.DiGraph, graphs.DiGraph, tuple[buildable.Unbuildable, ...]]:
    """(the plain lock, the lock with soft build sides, the releases left unbuildable)."""
    provider = Provider(repo, TARGET, IndexOptions())
    plain = resolve(provider, roots(*texts), quiet=True)
    extended = buildable.extend(provider, plain, ask_hooks=ask_hooks, workers=2)
    return graphs.build_graph(plain), graphs.build_graph(extended.resolution), extended.unbuildable


def runtime(graph: graphs.DiGraph) -> dict[str, str]:
    return versions(graph, graphs.runtime_set(graph))


def build(graph: graphs.DiGraph) -> dict[str, str]:
    return versions(graph, graphs.build_set(graph))


TOOLS = {
    "hatch": {"1.26": Version_(requires=["pathy"]), "1.28": Version_(requires=["pathy"])},
    "pathy": {"1.0": Version_(), "2.0": Version_()},
}


def test_wheel_needs_no_build_requirements_but_build_all_locks_them() -> None:
    repo = FakeRepository({"both": {"1.0": Version_(sdist=True, build=["hatch"])}, **TOOLS})
    plain, graph, unbuildable = extend(repo, "both")
    assert build(plain) == {}
    assert build(graph) == {"hatch": "1.28", "pathy": "2.0"}
    assert runtime(graph) == runtime(plain) == {"both": "1.0"}
    assert unbuildable == ()
    assert ("both", "hatch") in set((u, v) for u, v, _ in graph.edges(data="kinds"))


def test_conflicting_exact_build_pins_first_by_name_fits_the_other_is_named() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch==1.26"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    plain, graph, unbuildable = extend(repo, "beta", "alpha")
    assert runtime(graph) == runtime(plain) == {"alpha": "1.0", "beta": "1.0"}
    assert build(graph) == {"hatch": "1.26", "pathy": "2.0"}
    assert [(u.name, u.version) for u in unbuildable] == [("beta", "1.0")]
    assert unbuildable[0].reason == "hatch>=1.28 conflicts with hatch==1.26 (locked)"
    assert unbuildable[0].line() == (
        "beta==1.0: not buildable from source under this lock: "
        "hatch>=1.28 conflicts with hatch==1.26 (locked)"
    )
    # beta's build edge is not in the graph: its build side is absent, not half there.
    assert not graph.has_edge("beta", "hatch")


def test_runtime_pins_are_never_moved_for_a_build_side() -> None:
    repo = FakeRepository(
        {
            "app": {"1.0": Version_(sdist=True, build=["pathy<2"], requires=["pathy"])},
            **TOOLS,
        }
    )
    plain, graph, unbuildable = extend(repo, "app")
    assert runtime(graph) == runtime(plain) == {"app": "1.0", "pathy": "2.0"}
    assert build(graph) == {}
    assert unbuildable[0].reason == "pathy<2 conflicts with pathy==2.0 (locked)"


def test_a_build_tool_pinned_for_one_release_binds_the_next() -> None:
    """One version per project: the second release gets the tool the first fixed, and a
    runtime requirement of the tool that is already pinned keeps its pin."""
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch<1.28"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch"])},
            "app": {"1.0": Version_(requires=["pathy<2"])},
            **TOOLS,
        }
    )
    plain, graph, unbuildable = extend(repo, "alpha", "beta", "app")
    assert build(graph) == {"hatch": "1.26", "pathy": "1.0"}
    assert runtime(graph) == runtime(plain)
    assert unbuildable == ()


def test_sdist_built_releases_keep_hard_build_edges() -> None:
    """A release the lock builds from its sdist still backtracks (or fails) in the one
    resolution: its build side is not soft."""
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(wheel=False, build=["hatch==1.26"])},
            "beta": {"1.0": Version_(wheel=False, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    provider = Provider(repo, TARGET, IndexOptions())
    with pytest.raises(ResolutionError) as info:
        resolve(provider, roots("alpha", "beta"), quiet=True)
    assert "alpha 1.0 (build) requires hatch==1.26" in str(info.value)


def test_a_soft_build_side_cannot_take_a_pin_an_sdist_build_fixed() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(wheel=False, build=["hatch==1.26"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    plain, graph, unbuildable = extend(repo, "alpha", "beta")
    assert build(plain) == build(graph) == {"hatch": "1.26", "pathy": "2.0"}
    assert [u.name for u in unbuildable] == ["beta"]


def test_no_release_of_a_build_requirement() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["missing>=1"])},
            "missing": {"0.5": Version_()},
        }
    )
    _, graph, unbuildable = extend(repo, "alpha")
    assert unbuildable[0].reason == "no release satisfies missing>=1"
    assert build(graph) == {}


def test_new_soft_releases_among_build_tools_are_fitted_too() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch"])},
            "hatch": {"1.28": Version_(sdist=True, build=["flit"])},
            "flit": {"3.0": Version_()},
        }
    )
    _, graph, unbuildable = extend(repo, "alpha")
    assert build(graph) == {"hatch": "1.28", "flit": "3.0"}
    assert unbuildable == ()


class Hooks:
    """get_requires_for_build_wheel answers by release name (a failure, or more)."""

    def __init__(self, repo: FakeRepository, answers: Mapping[str, Sequence[str] | str]) -> None:
        self.repo = repo
        self.answers = answers
        self.asked: list[str] = []

    def __call__(
        self, releases: Sequence[Candidate], resolution: Resolution
    ) -> dict[str, Sequence[str] | HookFailed]:
        result: dict[str, Sequence[str] | HookFailed] = {}
        for release in releases:
            self.asked.append(release.name)
            answer = self.answers.get(release.name, ())
            if isinstance(answer, str):
                result[release.name] = HookFailed(
                    f"{release.name}.tar.gz", "get_requires_for_build_wheel", answer, Path("/l")
                )
                continue
            spec = self.repo.projects[release.name][str(release.version)]
            new = [r for r in answer if r not in spec.build]
            spec.build = [*spec.build, *new]
            result[release.name] = new
        return result


def test_dynamic_build_requirements_fit_or_take_the_whole_side_back() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch"])},
            "gamma": {"1.0": Version_(sdist=True, build=["hatch"])},
            "app": {"1.0": Version_(requires=["pathy<2"])},
            **TOOLS,
        }
    )
    hooks = Hooks(repo, {"alpha": ["pathy"], "beta": ["pathy>=2"], "gamma": "failed: boom"})
    plain, graph, unbuildable = extend(repo, "alpha", "beta", "gamma", "app", ask_hooks=hooks)
    assert runtime(graph) == runtime(plain)
    assert build(graph) == {"hatch": "1.28", "pathy": "1.0"}
    assert graph.has_edge("alpha", "hatch") and graph.has_edge("alpha", "pathy")
    assert not graph.has_edge("beta", "hatch") and not graph.has_edge("gamma", "hatch")
    assert [(u.name, u.reason) for u in unbuildable] == [
        ("beta", "pathy>=2 conflicts with pathy==1.0 (locked)"),
        ("gamma", "get_requires_for_build_wheel: failed: boom"),
    ]
    # Asked once each, then alpha and beta again for the requirements they added.
    assert sorted(hooks.asked) == ["alpha", "alpha", "beta", "gamma"]


def test_results_do_not_depend_on_input_order() -> None:
    def make() -> FakeRepository:
        return FakeRepository(
            {
                "alpha": {"1.0": Version_(sdist=True, build=["hatch==1.26"])},
                "beta": {"1.0": Version_(sdist=True, build=["hatch>=1.28"])},
                **TOOLS,
            }
        )

    one = extend(make(), "alpha", "beta")
    two = extend(make(), "beta", "alpha")
    assert build(one[1]) == build(two[1])
    assert one[2] == two[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("# lockbuild-target: x\nfoo==1\n", []),
        (
            "# lockbuild-not-buildable: beta==1.0: "
            "hatch>=1.28 conflicts with hatch==1.26 (locked)\n",
            [
                "beta==1.0: not buildable from source under this lock: "
                "hatch>=1.28 conflicts with hatch==1.26 (locked)"
            ],
        ),
    ],
)
def test_notices_read_from_the_build_file(text: str, expected: list[str]) -> None:
    recorded = parse_lockfile(text, Path("requirements-build.txt")).meta.get(NOT_BUILDABLE, [])
    assert buildable.notices([*recorded, *recorded]) == expected


def test_a_second_round_keeps_the_base_of_an_extra() -> None:
    """Refitted after its backend asked for more, a release whose build requirement has
    an extra still has the base project pinned (pandas builds with versioneer[toml])."""
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch[fast]"])},
            "hatch": {"1.28": Version_(requires=['speedy; extra == "fast"'])},
            "speedy": {"1.0": Version_()},
            **{"pathy": TOOLS["pathy"]},
        }
    )
    hooks = Hooks(repo, {"alpha": ["pathy"]})
    _, graph, unbuildable = extend(repo, "alpha", ask_hooks=hooks)
    assert unbuildable == ()
    assert build(graph) == {"hatch": "1.28", "pathy": "2.0", "speedy": "1.0"}
    assert graph.has_edge("hatch", "speedy")


def test_taking_one_side_back_leaves_what_another_needs() -> None:
    """alpha brought hatch (and what hatch needs); beta uses that hatch. alpha's backend
    then fails: beta's build side keeps hatch and pathy."""
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch"])},
            **TOOLS,
        }
    )
    hooks = Hooks(repo, {"alpha": "failed: boom"})
    _, graph, unbuildable = extend(repo, "alpha", "beta", ask_hooks=hooks)
    assert [u.name for u in unbuildable] == ["alpha"]
    assert build(graph) == {"hatch": "1.28", "pathy": "2.0"}
    assert graph.has_edge("beta", "hatch") and graph.has_edge("hatch", "pathy")
    assert not graph.has_edge("alpha", "hatch")


def test_a_build_requirement_not_on_the_index() -> None:
    repo = FakeRepository({"alpha": {"1.0": Version_(sdist=True, build=["nowhere[x]>=1"])}})
    _, _, unbuildable = extend(repo, "alpha")
    assert unbuildable[0].reason == "nowhere[x]>=1: nowhere is not on the index"


class _FailingSdists(FakeRepository):
    """A repository where reading one project's sdist fails with a given error."""

    def __init__(self, projects: dict[str, dict[str, Version_]], failing: str, error: Exception):
        super().__init__(projects)
        self.failing = failing
        self.error = error

    def build_requires(self, candidate: Candidate) -> Sequence[str]:
        if candidate.name == self.failing:
            raise self.error
        return super().build_requires(candidate)


def test_an_unreadable_sdist_names_its_release_and_the_rest_go_on() -> None:
    projects = {
        "alpha": {"1.0": Version_(sdist=True, build=["hatch"])},
        "beta": {"1.0": Version_(sdist=True, build=["hatch"])},
        **TOOLS,
    }
    repo = _FailingSdists(projects, "beta", DistError("beta-1.0.tar.gz: not a valid sdist"))
    plain, graph, unbuildable = extend(repo, "alpha", "beta")
    assert runtime(graph) == runtime(plain)
    assert build(graph) == {"hatch": "1.28", "pathy": "2.0"}
    assert [u.line() for u in unbuildable] == [
        "beta==1.0: not buildable from source under this lock: "
        "its sdist cannot be read: beta-1.0.tar.gz: not a valid sdist"
    ]


@pytest.mark.parametrize(
    "error", [FetchError("https://files.example/beta-1.0.tar.gz: HTTP 503"), KeyError("pin")]
)
def test_a_failed_fetch_or_a_fault_ends_the_run(error: Exception) -> None:
    projects = {"beta": {"1.0": Version_(sdist=True, build=["hatch"])}, **TOOLS}
    repo = _FailingSdists(projects, "beta", error)
    with pytest.raises(type(error)):
        extend(repo, "beta")
