"""The resolution as one graph: nodes are pins (and input files), edges are runtime or
build requirements. Every output and explanation is read from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from .resolve import BUILD, PYTHON, RUNTIME, Candidate, Resolution

if TYPE_CHECKING:
    import networkx as nx

INPUT = "input"


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    candidate: Candidate

    @property
    def builds(self) -> bool:
        return self.candidate.builds


def build_graph(resolution: Resolution) -> nx.DiGraph:
    """A DiGraph with a node per pinned project (attribute ``pin``) and per input file
    (attribute ``input``); edges carry ``kind`` (runtime or build) and ``requirement``."""
    import networkx as nx  # imported late: start-up is on every run's critical path

    graph = nx.DiGraph()
    for key, candidate in resolution.mapping.items():
        if key == PYTHON or candidate.extras:
            continue
        pin = Pin(candidate.name, str(candidate.version), candidate)
        graph.add_node(candidate.name, pin=pin)
    for key, infos in resolution.information.items():
        if key == PYTHON:
            continue
        for req, parent in infos:
            if req.kind in ("constraint", "extra", "override"):
                continue
            if parent is None and req.kind == "project":
                # A project input (pyproject.toml) is a root that is built, not pinned.
                if req.name in graph:
                    graph.nodes[req.name].update(input=True, label=req.via or req.name)
                continue
            if parent is None:
                source = req.via or "-r input"
                graph.add_node(source, input=True)
                _add_edge(graph, source, req.name, RUNTIME, req.origin or req.text)
            elif parent.name != req.name:
                kind = BUILD if req.kind == BUILD else RUNTIME
                _add_edge(graph, parent.name, req.name, kind, req.text)
    return graph


def _add_edge(graph: nx.DiGraph, source: str, target: str, kind: str, requirement: str) -> None:
    if graph.has_edge(source, target):
        data = graph.edges[source, target]
        # A build edge and a runtime edge between the same pair: keep both kinds.
        data["kinds"] = data["kinds"] | {kind}
        data["requirements"] = data["requirements"] + (requirement,)
    else:
        graph.add_edge(source, target, kinds=frozenset({kind}), requirements=(requirement,))


def pins(graph: nx.DiGraph, names: Iterable[str]) -> list[Pin]:
    """The pins of ``names``, sorted; input files and project inputs are not pins."""
    return sorted(
        (graph.nodes[n]["pin"] for n in names if not graph.nodes[n].get("input")),
        key=lambda p: p.name,
    )


def inputs(graph: nx.DiGraph) -> list[str]:
    return [n for n, data in graph.nodes(data=True) if data.get("input")]


def runtime_closure(graph: nx.DiGraph, start: Iterable[str]) -> set[str]:
    """Everything reached from ``start`` by runtime edges (``start`` itself excluded
    unless reached again)."""
    seen: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        for child in graph.successors(node):
            if RUNTIME in graph.edges[node, child]["kinds"] and child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def runtime_set(graph: nx.DiGraph) -> set[str]:
    """Projects installed at run time: reached from the inputs by runtime edges only."""
    return runtime_closure(graph, inputs(graph))


def build_set(graph: nx.DiGraph) -> set[str]:
    """Projects that go into some build environment: targets of build edges and
    everything they need at run time (build environments of build dependencies included)."""
    roots = {v for u, v, kinds in graph.edges(data="kinds") if BUILD in kinds}
    return roots | runtime_closure(graph, roots)


def parents(graph: nx.DiGraph, name: str) -> list[tuple[str, frozenset[str]]]:
    """Who requires ``name``, and by which kinds of edge."""
    return [(p, graph.edges[p, name]["kinds"]) for p in graph.predecessors(name)]
