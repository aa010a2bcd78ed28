"""Direct references: a URL to a wheel or sdist, or a local project directory, as a
candidate with its metadata (read once per run, however often the resolver asks)."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lockbuild.build.environments import EnvironmentPool
from lockbuild.build.hooks import copy_project, hook_metadata
from lockbuild.credentials import redact
from lockbuild.dists.buildsystem import build_system
from lockbuild.dists.metadata import CoreMetadata, parse_metadata, static_project_metadata
from lockbuild.errors import DistError
from lockbuild.index.fetcher import local_path
from lockbuild.index.listing import make_dist_file
from lockbuild.model import Candidate, DistFile
from lockbuild.target import Target


def local_file(url: str) -> Path | None:
    """The path of a ``file:`` URL (None for other URLs)."""
    return local_path(url) if url.startswith("file:") else None


class DirectReferences:
    """Candidates for URLs and local projects; ``dist_metadata`` reads an archive's
    metadata (as the index's files are read), hooks run in ``environments``."""

    def __init__(
        self,
        target: Target,
        environments: EnvironmentPool,
        dist_metadata: Callable[[DistFile], CoreMetadata],
        log: Callable[[str], None],
    ) -> None:
        self.target = target
        self.environments = environments
        self.dist_metadata = dist_metadata
        self.log = log
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[Candidate, CoreMetadata]] = {}

    def candidate(self, url: str, editable: bool) -> tuple[Candidate, CoreMetadata]:
        with self._lock:
            cached = self._seen.get(url)
        if cached is not None:
            return cached
        path = local_file(url)
        if path is not None and path.is_dir():
            result = self._local_project(path, url, editable)
        else:
            filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
            dist = make_dist_file(filename, url.split("#", 1)[0])
            if dist is None:
                raise DistError(f"{redact(url)}: not a wheel or sdist archive")
            meta = self.dist_metadata(dist)
            builds = not dist.is_wheel
            if dist.is_wheel and self.target.tag_rank(dist.tags) is None:
                raise DistError(
                    f"{filename}: wheel is not compatible with {self.target.description}"
                )
            candidate = Candidate(
                meta.name, meta.version, url=url, dist=dist, builds=builds, files=(dist,)
            )
            result = (candidate, meta)
        with self._lock:
            self._seen[url] = result
        return result

    def _local_project(
        self, path: Path, url: str, editable: bool
    ) -> tuple[Candidate, CoreMetadata]:
        pyproject_path = path / "pyproject.toml"
        if not pyproject_path.exists() and not (path / "setup.py").exists():
            raise DistError(f"{path}: not a Python project (no pyproject.toml or setup.py)")
        data = pyproject_path.read_bytes() if pyproject_path.exists() else None
        meta = static_project_metadata(data, str(pyproject_path))
        if meta is None:
            system = build_system(data, str(pyproject_path))
            self.log(f"preparing metadata of {path} with its build backend")
            with tempfile.TemporaryDirectory(prefix="lockbuild-project-") as tmp:
                project = copy_project(path, Path(tmp))
                prepared = hook_metadata(project, system, self.environments, str(path))
            meta = parse_metadata(prepared.metadata, str(path))
        candidate = Candidate(meta.name, meta.version, url=url, builds=True, editable=editable)
        return candidate, meta
