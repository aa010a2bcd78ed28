"""resolvelib's Resolver with its history of states kept small.

resolvelib keeps one state per round for backtracking, each holding a whole copy of the
pins and of the criteria, so a resolution of a thousand-odd projects holds a million-odd
dictionary entries at its end (about 70 MiB on uv's home-assistant set, the largest part
of a run's peak memory). Here every state but the newest two is kept as what it lacks
against the state after it: the keys that state added and the values it replaced, which
is a round's own work, a few entries. A state is made whole again, exactly as it was
(same objects, same order), when the states after it are taken off the stack.

This relies on how resolvelib's ``Resolution`` uses ``_states`` (a list it appends to,
pops from and reads the end of, and a state below the top is never changed); with a
resolvelib whose ``Resolution`` cannot be found, the plain ``Resolver`` is used.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

from resolvelib import Resolver
from resolvelib.resolvers import Result

try:  # resolvelib 1.1+: the resolution and its result builder live here
    from resolvelib.resolvers.resolution import Resolution as _Resolution
    from resolvelib.resolvers.resolution import _build_result
except ImportError:  # pragma: no cover - an older layout: resolve as resolvelib does
    _Resolution = None  # type: ignore[assignment,misc]


class _Delta(NamedTuple):
    """A dict as it was before the next state's round: without the keys that round added
    (all at the end), with the values it replaced put back."""

    added: list[Any]
    replaced: list[tuple[Any, Any]]


def delta(older: dict[Any, Any], newer: dict[Any, Any]) -> _Delta | None:
    """What turns a copy of ``newer`` back into ``older``; None when ``newer`` does not
    begin with ``older``'s keys in ``older``'s order (a key was moved or removed: the
    state is then kept whole). Values are compared by identity."""
    size = len(older)
    keys = list(newer)
    old_keys = list(older)
    if keys[:size] != old_keys:
        return None
    old_values = list(older.values())
    changed = map(operator.is_not, old_values, itertools.islice(newer.values(), size))
    replaced = [(old_keys[i], old_values[i]) for i in itertools.compress(range(size), changed)]
    return _Delta(keys[size:], replaced)


def undo(newer: dict[Any, Any], change: _Delta) -> dict[Any, Any]:
    """The dict ``delta`` described: a copy of ``newer`` (of its type) with ``change``
    undone."""
    older = newer.copy()
    for key in change.added:
        del older[key]
    for key, value in change.replaced:
        older[key] = value
    return older


class _Packed(NamedTuple):
    """A state kept as what it lacks against the next one (or whole, where it differs
    from it in a way _Delta cannot say)."""

    mapping: _Delta | dict[Any, Any]
    criteria: _Delta | dict[Any, Any]
    backtrack_causes: list[Any]
    state_type: type


def _pack(state: Any, newer: Any) -> _Packed:
    mapping = delta(state.mapping, newer.mapping)
    criteria = delta(state.criteria, newer.criteria)
    return _Packed(
        state.mapping if mapping is None else mapping,
        state.criteria if criteria is None else criteria,
        state.backtrack_causes,
        type(state),
    )


def _unpack(packed: _Packed, newer: Any) -> Any:
    mapping = packed.mapping
    criteria = packed.criteria
    return packed.state_type(
        mapping=undo(newer.mapping, mapping) if isinstance(mapping, _Delta) else mapping,
        criteria=undo(newer.criteria, criteria) if isinstance(criteria, _Delta) else criteria,
        backtrack_causes=packed.backtrack_causes,
    )


class StateStack:
    """The list of states resolvelib keeps, with all but the newest two packed.

    A state packed against the one after it is unpacked as soon as that one is the newest
    again (before its round changes it). Supports what ``Resolution`` does with the list:
    append, pop, delete or read the last item, length, truth and iteration."""

    def __init__(self, states: Iterable[Any] = ()) -> None:
        # Whole states and _Packed ones, oldest first; the last two are always whole.
        self.items: list[Any] = list(states)
        for index in range(len(self.items) - 2):
            self.items[index] = _pack(self.items[index], self.items[index + 1])

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def append(self, state: Any) -> None:
        items = self.items
        items.append(state)
        if len(items) >= 3:
            items[-3] = _pack(items[-3], items[-2])

    def pop(self) -> Any:
        items = self.items
        state = items.pop()
        if len(items) >= 2 and isinstance(items[-2], _Packed):
            items[-2] = _unpack(items[-2], items[-1])
        return state

    def __delitem__(self, index: int) -> None:
        if index != -1 and index != len(self.items) - 1:
            raise IndexError("only the newest state can be removed")
        self.pop()

    def __getitem__(self, index: int) -> Any:
        items = self.items
        if index < 0:
            index += len(items)
        if not 0 <= index < len(items):
            raise IndexError("state index out of range")
        if index >= len(items) - 2:
            return items[index]
        for state in itertools.islice(self._newest_first(), len(items) - 1 - index, None):
            return state
        raise IndexError("state index out of range")  # pragma: no cover

    def __iter__(self) -> Iterator[Any]:
        states: list[Any] = list(self._newest_first())
        states.reverse()
        return iter(states)

    def _newest_first(self) -> Iterator[Any]:
        """Every state whole, newest first (each older one unpacked from its successor)."""
        newer = None
        for item in reversed(self.items):
            state = _unpack(item, newer) if isinstance(item, _Packed) else item
            yield state
            newer = state


if _Resolution is not None:

    class _CompactResolution(_Resolution):  # type: ignore[type-arg]
        """resolvelib's Resolution with its ``_states`` list kept in a StateStack."""

        @property
        def state(self) -> Any:
            # Read on every step of every round: the top of the stack, in one lookup.
            try:
                return self._stack.items[-1]
            except IndexError as exc:
                raise AttributeError("state") from exc

        def _is_current_pin_satisfying(self, name: Any, criterion: Any) -> bool:
            # resolvelib asks this of every criterion every round, twice, and its answer
            # depends only on the criterion (resolvelib makes a new one rather than change
            # one) and the pin: the last answer per name is kept with both, by identity.
            # A quarter of a million calls on a lock of 400 pins: the top state is read
            # without the property.
            pin = self._stack.items[-1].mapping.get(name)
            if pin is None:
                return False
            seen = self._pin_checks.get(name)
            if seen is not None and seen[0] is criterion and seen[1] is pin:
                return seen[2]
            answer = all(
                self._p.is_satisfied_by(requirement=r, candidate=pin)
                for r in criterion.iter_requirement()
            )
            self._pin_checks[name] = (criterion, pin, answer)
            return answer

        @property  # type: ignore[override]
        def _states(self) -> StateStack:
            return self._stack

        @_states.setter
        def _states(self, states: Iterable[Any]) -> None:
            self._stack = states if isinstance(states, StateStack) else StateStack(states)
            self._pin_checks: dict[Any, tuple[Any, Any, bool]] = {}


RT = TypeVar("RT")
CT = TypeVar("CT")
KT = TypeVar("KT")


class CompactResolver(Resolver[RT, CT, KT], Generic[RT, CT, KT]):
    """resolvelib's Resolver, resolving exactly as it does with less memory."""

    def resolve(  # type: ignore[override]
        self, requirements: Iterable[RT], max_rounds: int = 100
    ) -> Result[RT, CT, KT]:
        if _Resolution is None:  # pragma: no cover - see the import
            return super().resolve(requirements, max_rounds=max_rounds)
        resolution = _CompactResolution(self.provider, self.reporter)
        state = resolution.resolve(requirements, max_rounds=max_rounds)
        return _build_result(state)
