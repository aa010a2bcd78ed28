"""The environment a lock is for: its marker values, its wheel tags and its Python."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker, default_environment
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, parse_tag, sys_tags
from packaging.version import Version

from .errors import UsageError

# Run inside another interpreter: prints its marker environment and tags, using the
# packaging library that lockbuild itself runs with (put on that interpreter's path).
_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from packaging.markers import default_environment
from packaging.tags import sys_tags
print(json.dumps({"env": default_environment(), "tags": [str(t) for t in sys_tags()]}))
"""


@dataclass(frozen=True)
class Target:
    """Marker values and supported tags (most preferred first) of the target interpreter."""

    environment: tuple[tuple[str, str], ...]
    tags: tuple[Tag, ...]
    description: str

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @property
    def python_version(self) -> Version:
        return Version(self.env["python_full_version"].rstrip("+"))

    def evaluate(self, marker: Marker | None, extras: Sequence[str] = ("",)) -> bool:
        """Whether ``marker`` holds here for any of ``extras`` ('' meaning no extra)."""
        if marker is None:
            return True
        env = self.env
        return any(marker.evaluate({**env, "extra": extra}) for extra in extras or ("",))

    def allows_python(self, spec: SpecifierSet | None) -> bool:
        return spec is None or spec.contains(self.python_version, prereleases=True)

    def tag_rank(self, tags: frozenset[Tag]) -> int | None:
        """Position of the best tag of a wheel in this target's order; None if unsupported."""
        ranks = self._ranks()
        best = [ranks[t] for t in tags if t in ranks]
        return min(best) if best else None

    def _ranks(self) -> dict[Tag, int]:
        cached: dict[Tag, int] | None = getattr(self, "_rank_cache", None)
        if cached is None:
            cached = {tag: i for i, tag in enumerate(self.tags)}
            object.__setattr__(self, "_rank_cache", cached)
        return cached


def current() -> Target:
    """The interpreter running lockbuild."""
    env = {key: str(value) for key, value in default_environment().items()}
    return Target(
        environment=tuple(sorted(env.items())),
        tags=tuple(sys_tags()),
        description=_describe(env),
    )


def from_interpreter(python: str) -> Target:
    """Ask another interpreter for its markers and tags (never guessed)."""
    import packaging

    site = str(Path(packaging.__file__).resolve().parent.parent)
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _PROBE, site], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--python {python}: cannot run it: {exc}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"--python {python}: cannot query it: {last}")
    data = json.loads(proc.stdout)
    tags: list[Tag] = []
    for text in data["tags"]:
        tags.extend(parse_tag(text))
    env = data["env"]
    return Target(tuple(sorted(env.items())), tuple(tags), _describe(env))


def _describe(env: dict[str, str]) -> str:
    return (
        f"{env['implementation_name']} {env['python_full_version']} "
        f"{env['sys_platform']} {env['platform_machine']}"
    )
