"""``lockbuild why``: paths from the inputs to a package, read from the lock files'
annotations (no network, no resolution)."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name

from lockbuild.errors import InputError
from lockbuild.lock.formats import build_file_for, read_lock
from lockbuild.lock.model import HELD_BACK, SCOPED, LockedFile, parse_via
from lockbuild.resolve.graph import DiGraph, simple_edge_paths
from lockbuild.resolve.heldback import from_note
from lockbuild.resolve.whynewer import from_line
from lockbuild.sync.buildjob import parse_scoped_line

MAX_PATHS = 50


def annotation_graph(files: list[LockedFile]) -> tuple[DiGraph, set[str]]:
    """Edges parent -> pin with a ``build`` flag, and the roots (input files, projects)."""
    graph = DiGraph()
    roots: set[str] = set()
    for locked in files:
        for pin in locked.pins.values():
            graph.add_node(pin.name)
            for via in map(parse_via, pin.via):
                if via.kind in ("override", "constraint"):
                    continue
                parent, build = via.parent, via.build
                if via.kind == "input":
                    roots.add(parent)
                if graph.has_edge(parent, pin.name):
                    graph.edges[parent, pin.name]["build"] |= build
                    graph.edges[parent, pin.name]["runtime"] |= not build
                else:
                    graph.add_edge(parent, pin.name, build=build, runtime=not build)
    return graph, roots


def why(name: str, lockfile: Path, build_file: Path | None = None) -> list[str]:
    """One line per path from an input to ``name``: ``requirements.in -> a (build) -> b``."""
    files = [read_lock(lockfile)]
    build_path = build_file or build_file_for(lockfile)
    if build_path.exists():
        files.append(read_lock(build_path, what="build file"))
    graph, roots = annotation_graph(files)
    target = canonicalize_name(name)
    scoped = scoped_builds(files, target)
    if target not in graph and not scoped:
        raise InputError(f"{name} is not pinned in {lockfile} or {build_path}")
    lines: list[str] = []
    for owner, version, pinned in scoped:
        # A build in an environment of its own: the paths to the build, then its pin of
        # ``name`` (at its own version, which the build file may pin otherwise or not).
        last = f"{owner} (build, own environment) -> {target}=={pinned}"
        to_owner = [
            line
            for root in sorted(roots)
            if root in graph and owner in graph
            for path in simple_edge_paths(graph, root, owner)
            for line in _render(graph, path)
        ]
        lines.extend(f"{line.rsplit(' -> ', 1)[0]} -> {last}" for line in to_owner)
        if not to_owner:
            lines.append(f"{owner}=={version} (build, own environment) -> {target}=={pinned}")
    for root in sorted(roots):
        if root not in graph or target not in graph:
            continue
        for path in simple_edge_paths(graph, root, target):
            lines.extend(_render(graph, path))
            if len(lines) >= MAX_PATHS:
                return (
                    sorted(set(lines))[:MAX_PATHS]
                    + [f"... (more than {MAX_PATHS} paths)"]
                    + held_back_lines(files, target)
                )
    if not lines:
        raise InputError(f"no path from an input to {name} is recorded in the annotations")
    return sorted(set(lines)) + held_back_lines(files, target)


def scoped_builds(files: list[LockedFile], name: str) -> list[tuple[str, str, str]]:
    """The builds whose own environment (a ``lockbuild-scoped`` line) pins ``name``:
    (the build's project, its version, the version of ``name`` its environment takes)."""
    found: list[tuple[str, str, str]] = []
    for locked in files:
        for text in locked.meta.get(SCOPED, ()):
            parsed = parse_scoped_line(text)
            if parsed is None:
                continue
            owner, version, pins = parsed
            found.extend((owner, version, pinned) for pin, pinned in pins if pin == name)
    return found


def held_back_lines(files: list[LockedFile], name: str) -> list[str]:
    """What the lockfile records about ``name`` being held back: by a build edge (a note
    under the pin) or by a runtime edge (a header line)."""
    found = []
    for locked in files:
        for line in locked.meta.get(HELD_BACK, []):
            held_line = from_line(line)
            if held_line is not None and canonicalize_name(held_line.name) == canonicalize_name(
                name
            ):
                found.append(held_line.line())
        pin = locked.pins.get(canonicalize_name(name))
        if pin is None:
            continue
        for note in pin.notes:
            held = from_note(pin.name, pin.version, note)
            if held is not None:
                found.append(held.line())
    return found


def _render(graph: DiGraph, path: list[tuple[str, str]]) -> list[str]:
    """A path of edges as text; an edge that is both runtime and build gives two lines."""
    variants = [[path[0][0]]]
    for parent, child in path:
        data = graph.edges[parent, child]
        kinds = [k for k in ("runtime", "build") if data[k]]
        grown = []
        for words in variants:
            for kind in kinds:
                head = words[:-1] + [words[-1] + (" (build)" if kind == "build" else "")]
                grown.append([*head, child])
        variants = grown
    return [" -> ".join(words) for words in variants]
