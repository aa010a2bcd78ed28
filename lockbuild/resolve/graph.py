"""The resolution as one graph: nodes are pins (and input files), edges are runtime or
build requirements. Every output and explanation is read from it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.model import PYTHON, Candidate, Kind

if TYPE_CHECKING:  # why reads graphs without the resolver
    from lockbuild.resolve.provider import Resolution

INPUT = "input"


class DiGraph:
    """The few directed-graph operations compile and why need, with networkx's spelling
    (``graph.nodes[n]``, ``graph.edges[u, v]``, ``successors``...). Importing networkx
    cost a compile more than its resolution of a small set, and ``why`` 0.2 s."""

    def __init__(self) -> None:
        self._nodes: dict[str, dict[str, Any]] = {}
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}
        self._pred: dict[str, dict[str, dict[str, Any]]] = {}
        self.nodes = _Nodes(self._nodes)
        self.edges = _Edges(self._succ)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def add_node(self, node: str, **attrs: Any) -> None:
        self._nodes.setdefault(node, {}).update(attrs)
        self._succ.setdefault(node, {})
        self._pred.setdefault(node, {})

    def add_edge(self, source: str, target: str, **attrs: Any) -> None:
        self.add_node(source)
        self.add_node(target)
        data = self._succ[source].setdefault(target, {})
        data.update(attrs)
        self._pred[target][source] = data

    def has_edge(self, source: str, target: str) -> bool:
        return target in self._succ.get(source, {})

    def successors(self, node: str) -> Iterator[str]:
        return iter(list(self._succ[node]))

    def predecessors(self, node: str) -> Iterator[str]:
        return iter(list(self._pred[node]))

    def out_edges(self, node: str, data: str) -> Iterator[tuple[str, str, Any]]:
        return ((node, target, attrs.get(data)) for target, attrs in self._succ[node].items())


class _Nodes:
    def __init__(self, nodes: dict[str, dict[str, Any]]) -> None:
        self._nodes = nodes

    def __call__(self, data: bool = False) -> list[Any]:
        return list(self._nodes.items()) if data else list(self._nodes)

    def __getitem__(self, node: str) -> dict[str, Any]:
        return self._nodes[node]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)


class _Edges:
    def __init__(self, succ: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._succ = succ

    def __getitem__(self, edge: tuple[str, str]) -> dict[str, Any]:
        return self._succ[edge[0]][edge[1]]

    def __call__(self, data: str) -> Iterator[tuple[str, str, Any]]:
        return (
            (source, target, attrs.get(data))
            for source, targets in self._succ.items()
            for target, attrs in targets.items()
        )


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    candidate: Candidate

    @property
    def builds(self) -> bool:
        return self.candidate.builds


def build_graph(resolution: Resolution) -> DiGraph:
    """A DiGraph with a node per pinned project (attribute ``pin``) and per input file
    (attribute ``input``); edges carry ``kind`` (runtime or build) and ``requirement``."""
    graph = DiGraph()
    for key, candidate in resolution.mapping.items():
        if key == PYTHON or candidate.extras:
            continue
        pin = Pin(candidate.name, str(candidate.version), candidate)
        graph.add_node(candidate.name, pin=pin)
    for key, candidate in resolution.mapping.items():
        # The extras asked of a pin outside build environments (pip-compile writes them
        # without --strip-extras): node attribute ``extras``.
        if key == PYTHON or not candidate.extras or candidate.name not in graph:
            continue
        asked = resolution.information.get(key, ())
        if any(req.kind not in (Kind.BUILD, Kind.OVERRIDE) for req, _ in asked):
            node = graph.nodes[candidate.name]
            node["extras"] = node.get("extras", frozenset()) | candidate.extras
    for key, infos in resolution.information.items():
        if key == PYTHON:
            continue
        for req, parent in infos:
            if req.kind in (Kind.CONSTRAINT, Kind.EXTRA, Kind.OVERRIDE):
                continue
            if parent is None and req.kind == Kind.PROJECT:
                # A project input (pyproject.toml) is a root that is built, not pinned.
                if req.name in graph:
                    graph.nodes[req.name].update(input=True, label=req.via or req.name)
                continue
            if parent is None:
                source = req.via or "-r input"
                graph.add_node(source, input=True)
                _add_edge(graph, source, req.name, Kind.RUNTIME, req.origin or req.text)
            elif parent.name != req.name:
                kind = Kind.BUILD if req.kind == Kind.BUILD else Kind.RUNTIME
                _add_edge(graph, parent.name, req.name, kind, req.text)
    return graph


def _add_edge(graph: DiGraph, source: str, target: str, kind: Kind, requirement: str) -> None:
    if graph.has_edge(source, target):
        data = graph.edges[source, target]
        # A build edge and a runtime edge between the same pair: keep both kinds.
        data["kinds"] = data["kinds"] | {kind}
        data["requirements"] = data["requirements"] + (requirement,)
    else:
        graph.add_edge(source, target, kinds=frozenset({kind}), requirements=(requirement,))


def pins(graph: DiGraph, names: Iterable[str]) -> list[Pin]:
    """The pins of ``names``, sorted; input files and project inputs are not pins."""
    return sorted(
        (graph.nodes[n]["pin"] for n in names if not graph.nodes[n].get("input")),
        key=lambda p: p.name,
    )


def inputs(graph: DiGraph) -> list[str]:
    return [n for n, data in graph.nodes(data=True) if data.get("input")]


def runtime_closure(graph: DiGraph, start: Iterable[str]) -> set[str]:
    """Everything reached from ``start`` by runtime edges (``start`` itself excluded
    unless reached again)."""
    seen: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        for child in graph.successors(node):
            if Kind.RUNTIME in graph.edges[node, child]["kinds"] and child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def runtime_set(graph: DiGraph) -> set[str]:
    """Projects installed at run time: reached from the inputs by runtime edges only."""
    return runtime_closure(graph, inputs(graph))


def build_set(graph: DiGraph) -> set[str]:
    """Projects that go into some build environment: targets of build edges and
    everything they need at run time (build environments of build dependencies included)."""
    roots = {v for u, v, kinds in graph.edges(data="kinds") if Kind.BUILD in kinds}
    return roots | runtime_closure(graph, roots)


def parents(graph: DiGraph, name: str) -> list[tuple[str, frozenset[str]]]:
    """Who requires ``name``, and by which kinds of edge."""
    return [(p, graph.edges[p, name]["kinds"]) for p in graph.predecessors(name)]


def build_candidates(graph: DiGraph) -> list[Candidate]:
    """Candidates whose build requirements are locked (they have build edges or build)."""
    found = []
    for name, data in graph.nodes(data=True):
        pin = data.get("pin")
        if pin is None:
            continue
        has_build_edges = any(Kind.BUILD in kinds for _, _, kinds in graph.out_edges(name, "kinds"))
        if pin.builds or has_build_edges:
            found.append(pin.candidate)
    return sorted(found, key=lambda c: c.name)


def build_environments(graph: DiGraph) -> dict[str, list[str]]:
    """``name version`` of every sdist built -> the pins of its build environment."""
    builds = {}
    for candidate in build_candidates(graph):
        roots = [
            child
            for _, child, kinds in graph.out_edges(candidate.name, "kinds")
            if Kind.BUILD in kinds
        ]
        env = set(roots) | runtime_closure(graph, roots)
        builds[f"{candidate.name} {candidate.version}"] = [
            f"{p.name}=={p.version}" for p in pins(graph, env)
        ]
    return builds


def hook_environment(graph: DiGraph, name: str, static_requires: Iterable[str]) -> list[str]:
    """The pins ``name``'s get_requires_for_build_wheel runs with: those of its static
    build requirements (the names in ``static_requires``) and their runtime closure."""
    static = {canonicalize_name(Requirement(text).name) for text in static_requires}
    roots = [child for child in graph.successors(name) if child in static]
    env = set(roots) | runtime_closure(graph, roots)
    return sorted(f"{p.name}=={p.version}" for p in pins(graph, env))


def simple_edge_paths(graph: DiGraph, source: str, target: str) -> Iterator[list[tuple[str, str]]]:
    """Every path from ``source`` to ``target`` that visits no node twice, as its edges,
    depth first in the order edges were added (networkx's ``all_simple_edge_paths``
    order); a path stops at ``target``; ``source == target`` is the one empty path."""
    if source == target:
        yield []
        return
    on_path = {source}
    edges: list[tuple[str, str]] = []
    stack = [graph.successors(source)]
    while stack:
        child = next((n for n in stack[-1] if n not in on_path), None)
        if child is None:
            stack.pop()
            if edges:
                on_path.discard(edges.pop()[1])
            continue
        parent = edges[-1][1] if edges else source
        if child == target:
            yield [*edges, (parent, child)]
            continue
        edges.append((parent, child))
        on_path.add(child)
        stack.append(graph.successors(child))
