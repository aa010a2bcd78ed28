"""The small directed graph compile and why read: simple paths in networkx's order."""

from __future__ import annotations

import pytest

from lockbuild.resolve.graph import DiGraph, simple_edge_paths

pytestmark = pytest.mark.unit  # pure code: in `make test-unit`


def _graph(edges: str) -> DiGraph:
    graph = DiGraph()
    for edge in edges.split():
        source, target = edge.split(">")
        graph.add_edge(source, target)
    return graph


# (edges in the order added, source, target, the paths as node strings, in order)
CASES = [
    ("r>a a>t", "r", "t", ["rat"]),
    ("r>a r>b a>t b>t", "r", "t", ["rat", "rbt"]),
    ("r>b r>a a>t b>t", "r", "t", ["rbt", "rat"]),  # the order edges were added
    ("r>a a>b b>a a>t", "r", "t", ["rat"]),  # a cycle is not walked twice
    ("r>t t>x x>t", "r", "t", ["rt"]),  # a path stops at the target
    ("r>a a>t r>t", "r", "t", ["rat", "rt"]),
    ("r>a a>b b>t a>t b>c c>t", "r", "t", ["rabt", "rabct", "rat"]),
    ("r>a b>t", "r", "t", []),
    ("r>a a>r", "r", "t", []),
    ("r>a", "r", "r", [""]),  # the empty path
    ("r>a a>b b>c c>a c>t", "r", "t", ["rabct"]),
]


@pytest.mark.parametrize(("edges", "source", "target", "expected"), CASES)
def test_simple_edge_paths(edges: str, source: str, target: str, expected: list[str]) -> None:
    graph = _graph(edges)
    graph.add_node(target)
    found = list(simple_edge_paths(graph, source, target))
    as_text = [path[0][0] + "".join(child for _, child in path) if path else "" for path in found]
    assert as_text == expected
    for path in found:  # each one joined edge to edge, on edges of the graph
        assert all(graph.has_edge(u, v) for u, v in path)
        assert all(path[i][1] == path[i + 1][0] for i in range(len(path) - 1))
