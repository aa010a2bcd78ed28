"""resolve/history.py: resolvelib's states kept as deltas, and a resolution that takes the
same steps and ends with the same pins as resolvelib's own."""

from __future__ import annotations

import collections
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, Resolver
from resolvelib.resolvers import ResolutionTooDeep
from resolvelib.structs import State

from lockbuild.resolve.history import CompactResolver, StateStack, delta, undo

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`

A, B, C, D = object(), object(), object(), object()


@pytest.mark.parametrize(
    ("older", "newer", "packs"),
    [
        ({}, {}, True),
        ({}, {"x": A}, True),  # the first pin
        ({"x": A}, {"x": A, "y": B}, True),  # a pin added at the end
        ({"x": A, "y": B}, {"x": C, "y": B, "z": D}, True),  # a value replaced, one added
        ({"x": A, "y": B}, {"x": A, "y": B}, True),  # nothing changed
        ({"x": A, "y": B}, {"y": B, "x": C}, False),  # re-pinned: moved to the end
        ({"x": A, "y": B}, {"x": A}, False),  # a key removed
        ({"x": A, "y": B}, {"y": B, "z": C}, False),  # one removed, another added
    ],
)
def test_delta_undoes_exactly_or_declines(
    older: dict[str, object], newer: dict[str, object], packs: bool
) -> None:
    for kind in (dict, collections.OrderedDict):
        old, new = kind(older), kind(newer)
        change = delta(old, new)
        if not packs:
            assert change is None
            continue
        assert change is not None
        rebuilt = undo(new, change)
        assert type(rebuilt) is kind
        assert list(rebuilt.items()) == list(old.items())
        assert all(rebuilt[k] is old[k] for k in old)
        assert new == kind(newer)  # the newer dict is left as it was


def test_delta_compares_values_by_identity() -> None:
    first, second = [1], [1]  # equal, not the same object
    change = delta({"x": first}, {"x": second})
    assert change is not None and change.replaced == [("x", first)]
    assert undo({"x": second}, change)["x"] is first


def _state(mapping: dict[str, object], criteria: dict[str, object]) -> State[Any, Any, Any]:
    return State(
        mapping=collections.OrderedDict(mapping), criteria=dict(criteria), backtrack_causes=[]
    )


def _snapshot(state: State[Any, Any, Any]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    return (
        [(k, id(v)) for k, v in state.mapping.items()],
        [(k, id(v)) for k, v in state.criteria.items()],
    )


def test_state_stack_gives_back_every_state_as_it_was() -> None:
    """Rounds as resolvelib plays them: copy the top, change the copy; then pop back down
    (some rounds move a pin to the end, which is kept whole)."""
    values = [object() for _ in range(200)]
    stack = StateStack([_state({}, {})])
    seen = []
    for round_index in range(60):
        top = stack[-1]
        new = State(
            mapping=top.mapping.copy(),
            criteria=top.criteria.copy(),
            backtrack_causes=top.backtrack_causes[:],
        )
        stack.append(new)
        name = f"p{round_index % 17}"
        new.mapping.pop(name, None)  # a re-pin moves the name to the end
        new.mapping[name] = values[round_index]
        new.criteria[f"c{round_index}"] = values[round_index + 1]
        new.criteria["c0"] = values[round_index + 2]
        seen.append(_snapshot(new))
    assert len(stack) == 61
    assert [_snapshot(s) for s in list(stack)[1:]] == seen  # iteration: oldest first
    assert _snapshot(stack[5]) == seen[4]
    while len(stack) > 1:
        expected = seen.pop()
        assert _snapshot(stack[-1]) == expected
        if len(stack) % 2:
            assert _snapshot(stack.pop()) == expected
        else:
            del stack[-1]
    assert _snapshot(stack[-1]) == ([], [])


def test_state_stack_packs_a_list_it_is_given() -> None:
    states = [_state({}, {})]
    for i in range(10):
        states.append(_state({**states[-1].mapping, f"p{i}": i}, {f"c{i}": i}))
    stack = StateStack(states)
    assert [_snapshot(s) for s in stack] == [_snapshot(s) for s in states]
    with pytest.raises(IndexError):
        del stack[0]


# --- whole resolutions against resolvelib's own -------------------------------------------

Index = Mapping[str, Mapping[int, Sequence[tuple[str, frozenset[int]]]]]


class _Provider(AbstractProvider):  # type: ignore[type-arg]
    """Projects with integer versions; a requirement is (name, allowed versions)."""

    def __init__(self, index: Index) -> None:
        self.index = index

    def identify(self, requirement_or_candidate: Any) -> str:
        return str(requirement_or_candidate[0])

    def get_preference(self, identifier: Any, *args: Any, **kwargs: Any) -> Any:
        return identifier

    def find_matches(
        self,
        identifier: Any,
        requirements: Mapping[Any, Iterator[Any]],
        incompatibilities: Mapping[Any, Iterator[Any]],
    ) -> Iterable[Any]:
        allowed = set(self.index[identifier])
        for _, versions in requirements[identifier]:
            allowed &= versions
        bad = {version for _, version in incompatibilities[identifier]}
        return [(identifier, v) for v in sorted(allowed - bad, reverse=True)]

    def is_satisfied_by(self, requirement: Any, candidate: Any) -> bool:
        return bool(candidate[1] in requirement[1])

    def get_dependencies(self, candidate: Any) -> Iterable[Any]:
        return list(self.index[candidate[0]][candidate[1]])


class _Recorder(BaseReporter):  # type: ignore[type-arg]
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def pinning(self, candidate: Any) -> None:
        self.events.append(("pin", candidate))

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        self.events.append(("reject", candidate))

    def ending_round(self, index: int, state: Any) -> None:
        self.events.append(("round", index, tuple(state.mapping.items())))


def _random_index(seed: int) -> Index:
    """Forty projects of five versions each, each version asking for a random range of a
    few later projects: plenty of conflicts, so plenty of backtracking."""
    rng = random.Random(seed)
    names = [f"p{i:02d}" for i in range(40)]
    index: dict[str, dict[int, list[tuple[str, frozenset[int]]]]] = {}
    for position, name in enumerate(names):
        index[name] = {}
        for version in range(5):
            later = names[position + 1 :]
            picks = rng.sample(later, min(len(later), rng.randint(0, 4)))
            index[name][version] = [
                (pick, frozenset(range(rng.randint(0, 2), rng.randint(2, 5)))) for pick in picks
            ]
    return index


def _run(resolver_type: type, index: Index) -> tuple[Any, list[tuple[Any, ...]]]:
    reporter = _Recorder()
    resolver = resolver_type(_Provider(index), reporter)
    roots = [(name, frozenset(range(5))) for name in list(index)[:8]]
    try:
        result = resolver.resolve(roots, max_rounds=400)
    except (ResolutionImpossible, ResolutionTooDeep) as exc:
        return type(exc).__name__, reporter.events
    return dict(result.mapping), reporter.events


SEEDS = range(16)


@pytest.mark.parametrize("seed", SEEDS)
def test_compact_resolver_takes_resolvelibs_steps(seed: int) -> None:
    index = _random_index(seed)
    assert _run(CompactResolver, index) == _run(Resolver, index)


def test_the_random_indexes_backtrack() -> None:
    """The comparison above means something only if resolutions backtrack (and some
    end in a conflict)."""
    runs = [_run(Resolver, _random_index(seed)) for seed in SEEDS]
    rejecting = [events for _, events in runs if any(e[0] == "reject" for e in events)]
    assert len(rejecting) >= len(runs) // 2
    assert any(isinstance(result, dict) for result, _ in runs)
