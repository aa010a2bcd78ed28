"""--build-deps-for all on the pure core: the build sides of releases installed from
wheels join a finished lock where they fit, and never move a pin of it."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from lockbuild.build.hookfail import HookFailed
from lockbuild.errors import DistError, FetchError, ResolutionError
from lockbuild.lock.lockfile import parse_lockfile
from lockbuild.lock.model import NOT_BUILDABLE
from lockbuild.model import Candidate
from lockbuild.progress import Progress
from lockbuild.resolve import buildable, hookrounds
from lockbuild.resolve import graph as graphs
from lockbuild.resolve.buildenvs import Fitted
from lockbuild.resolve.provider import Provider, resolve
from lockbuild.spec import IndexOptions
from lockbuild.sync import buildjob
from tests.unit.test_resolve import TARGET, FakeRepository, Version_, roots, versions

pytestmark = pytest.mark.unit


def extend(
    repo: FakeRepository, *texts: str, ask_hooks: buildable.AskHooks | None = None
) -> tuple[graphs.DiGraph, graphs.DiGraph, tuple[buildable.Unbuildable, ...]]:
    """(the plain lock, the lock with soft build sides, the releases left unbuildable)."""
    graph, extended = fitted(repo, *texts, ask_hooks=ask_hooks)
    return graph, graphs.build_graph(extended.resolution), extended.unbuildable


def fitted(
    repo: FakeRepository, *texts: str, ask_hooks: buildable.AskHooks | None = None
) -> tuple[graphs.DiGraph, Fitted]:
    """(the plain lock, every build fitted under it)."""
    provider = Provider(repo, TARGET, IndexOptions())
    plain = resolve(provider, roots(*texts), quiet=True)
    hard = hookrounds.hard_builds(provider, plain)
    extended = buildable.extend(provider, plain, hard, ask_hooks=ask_hooks, workers=2)
    return graphs.build_graph(plain), extended


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


def test_conflicting_exact_build_pins_one_shared_the_other_scoped() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch==1.26"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    plain, result = fitted(repo, "beta", "alpha")
    graph = graphs.build_graph(result.resolution)
    assert runtime(graph) == runtime(plain) == {"alpha": "1.0", "beta": "1.0"}
    # Each version serves one build: the newest is shared, alpha gets its own.
    assert build(graph) == {"hatch": "1.28", "pathy": "2.0"}
    assert result.unbuildable == ()
    assert [s.line() for s in result.scoped] == ["alpha==1.0: hatch==1.26, pathy==2.0"]
    assert graph.has_edge("beta", "hatch") and not graph.has_edge("alpha", "hatch")
    envs = result.environments(graph)
    assert envs["alpha 1.0"] == ["hatch==1.26", "pathy==2.0"]
    assert envs["beta 1.0"] == ["hatch==1.28", "pathy==2.0"]


def test_the_version_most_builds_take_is_shared() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(sdist=True, build=["hatch<1.28"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch==1.26"])},
            "gamma": {"1.0": Version_(sdist=True, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    _, result = fitted(repo, "alpha", "beta", "gamma")
    assert build(graphs.build_graph(result.resolution)) == {"hatch": "1.26", "pathy": "2.0"}
    assert [s.line() for s in result.scoped] == ["gamma==1.0: hatch==1.28, pathy==2.0"]


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


def test_a_build_from_source_gets_its_own_environment_as_a_soft_one_does() -> None:
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(wheel=False, build=["hatch==1.26"])},
            "beta": {"1.0": Version_(sdist=True, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    plain, result = fitted(repo, "alpha", "beta")
    graph = graphs.build_graph(result.resolution)
    assert build(graph) == {"hatch": "1.28", "pathy": "2.0"}
    assert [s.line() for s in result.scoped] == ["alpha==1.0: hatch==1.26, pathy==2.0"]
    assert result.unbuildable == ()


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
        self, releases: Sequence[Candidate], fitted: Fitted
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


class _Options:
    """What hookrounds reads of the compile options."""

    quiet = True
    build_hooks = False
    workers = 2


class _Repository(FakeRepository):
    progress = Progress(sys.stderr, quiet=True)


def joint(repo: FakeRepository, *texts: str) -> hookrounds.Locked:
    """The joint resolution with build-only projects by name, and the builds fitted."""
    provider = Provider(repo, TARGET, IndexOptions())
    return hookrounds.resolve_with_hooks(
        _Options(),  # type: ignore[arg-type]
        provider,
        _Repository(repo.projects),  # type: ignore[arg-type]
        roots(*texts),
        lambda message: None,
    )


def test_builds_that_pin_different_tools_both_build_and_move_no_runtime_pin() -> None:
    repo = FakeRepository(
        {
            "alpha": {
                "1.0": Version_(wheel=False, build=["hatch==1.26"]),
                "2.0": Version_(wheel=False, build=["hatch==1.26"]),
            },
            "beta": {"1.0": Version_(wheel=False, build=["hatch>=1.28"])},
            **TOOLS,
        }
    )
    locked = joint(repo, "alpha", "beta")
    assert runtime(locked.graph) == {"alpha": "2.0", "beta": "1.0"}
    assert build(locked.graph) == {"hatch": "1.28", "pathy": "2.0"}
    assert [s.line() for s in locked.fitted.scoped] == ["alpha==2.0: hatch==1.26, pathy==2.0"]


def test_a_runtime_project_stays_joint_and_decides_backtracking() -> None:
    repo = FakeRepository(
        {
            "lib": {"1.0": Version_(), "2.0": Version_()},
            "ext": {
                "1.0": Version_(wheel=False, build=["lib==1.0"]),
                "2.0": Version_(wheel=False, build=["lib==1.0"]),
            },
        }
    )
    with pytest.raises(ResolutionError) as info:
        joint(repo, "lib>=2", "ext")
    assert "ext 2.0 (build) requires lib==1.0" in str(info.value)
    assert "in line 1: lib>=2" in str(info.value)
    # Without the runtime requirement lib is build-only: the build takes what it asks.
    locked = joint(repo, "ext")
    assert build(locked.graph) == {"lib": "1.0"} and locked.fitted.scoped == ()


def test_a_build_tool_that_reaches_a_runtime_pin_holds_it_jointly() -> None:
    """ctc-segmentation -> oldest-supported-numpy -> numpy==1.23.2, in small."""
    repo = FakeRepository(
        {
            "numpy": {"1.23.2": Version_(), "1.26.4": Version_()},
            "pinner": {"1.0": Version_(requires=["numpy==1.23.2"])},
            "ctc": {"1.0": Version_(wheel=False, build=["pinner"], requires=["numpy"])},
        }
    )
    locked = joint(repo, "ctc", "numpy<2")
    assert runtime(locked.graph) == {"ctc": "1.0", "numpy": "1.23.2"}
    assert build(locked.graph) == {"numpy": "1.23.2", "pinner": "1.0"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("first==1.0: tool==1.0", ("first", "1.0", (("tool", "1.0"),))),
        (
            "My_Pkg==2.0: Tool_X==1.0, other==3",
            ("my-pkg", "2.0", (("tool-x", "1.0"), ("other", "3"))),
        ),
        ("first==1.0: (empty)", ("first", "1.0", ())),
        ("first==1.0 tool==1.0", None),
        ("first: tool==1.0", None),
        ("first==1.0: tool", None),
        ("first==1.0: tool==1.0 extra", None),
    ],
)
def test_scoped_header_lines_read_back(
    line: str, expected: tuple[str, str, tuple[tuple[str, str], ...]] | None
) -> None:
    assert buildjob.parse_scoped_line(line) == expected


def test_a_build_tool_built_from_source_at_the_shared_version_is_fitted_too() -> None:
    """The joint resolution binds hatch by name (newest: 1.28); both builds take 1.26,
    an sdist itself: its own build environment is locked, 1.28's is not."""
    repo = FakeRepository(
        {
            "alpha": {"1.0": Version_(wheel=False, build=["hatch==1.26"])},
            "beta": {"1.0": Version_(wheel=False, build=["hatch<1.28"])},
            "hatch": {
                "1.26": Version_(wheel=False, build=["flit<4"]),
                "1.28": Version_(wheel=False, build=["flit>=4"]),
            },
            "flit": {"3.0": Version_(), "4.0": Version_()},
        }
    )
    locked = joint(repo, "alpha", "beta")
    assert build(locked.graph) == {"flit": "3.0", "hatch": "1.26"}
    envs = locked.fitted.environments(locked.graph)
    assert envs["hatch 1.26"] == ["flit==3.0"]
    assert "hatch 1.28" not in envs
    assert sorted(b.candidate.name for b in locked.builds) == ["alpha", "beta", "hatch"]


@pytest.mark.parametrize(
    ("build", "inputs", "expected"),
    [
        # The build tool is a runtime pin it admits: the fitting can only hold it.
        (["hatch"], ("both", "hatch"), ["hatch==1.28", "pathy==2.0"]),
        (["hatch>=1.26"], ("both", "hatch==1.26"), ["hatch==1.26", "pathy==2.0"]),
        (["hatch; python_version < '3'"], ("both", "hatch"), []),
        ([], ("both",), []),
        # Anything the fitting could choose: not decided by the runtime pins alone.
        (["hatch<1.28"], ("both", "hatch"), None),
        (["hatch"], ("both",), None),
        (["hatch", "pathy"], ("both", "hatch==1.26"), ["hatch==1.26", "pathy==2.0"]),
        (["hatch", "other"], ("both", "hatch"), None),
        (["hatch[fast]"], ("both", "hatch"), None),
    ],
)
def test_hook_environment_held_by_runtime_pins(
    build: list[str], inputs: tuple[str, ...], expected: list[str] | None
) -> None:
    """What the early hook runs with is the fitted build's hook environment, whenever the
    runtime pins alone decide it; None otherwise."""
    tools = {**TOOLS, "other": {"1.0": Version_()}}
    repo = FakeRepository({"both": {"1.0": Version_(sdist=True, build=build)}, **tools})
    provider = Provider(repo, TARGET, IndexOptions())
    plain = resolve(provider, roots(*inputs), quiet=True)
    graph = graphs.build_graph(plain)
    release = plain.mapping["both"]
    edges = provider.build_edges(release)
    held = buildable.held_hook_environment(graph, graphs.runtime_set(graph), build, edges)
    assert held == expected
    if held is not None:
        extended = buildable.extend(provider, plain, workers=2)
        fitted_graph = graphs.build_graph(extended.resolution)
        assert extended.hook_environment(fitted_graph, "both", build) == held
