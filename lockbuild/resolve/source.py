"""The package source the provider asks: index files grouped into releases, metadata from
wheels, PKG-INFO or PEP 517 hooks, and build requirements read from sdists."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.build.environments import EnvironmentPool
from lockbuild.build.hookfail import HookFailed
from lockbuild.build.hooks import copy_project, hook_build_requires, hook_metadata
from lockbuild.build.provenance import keep_metadata_wheel
from lockbuild.dists.archive import extract_archive, read_sdist, wheel_metadata
from lockbuild.dists.buildsystem import BuildSystem, build_system
from lockbuild.dists.metadata import CoreMetadata, parse_metadata, usable_pkg_info
from lockbuild.errors import DistError, FetchError
from lockbuild.index.cache import Cache, sha256_hex
from lockbuild.index.client import IndexClient
from lockbuild.index.listing import Listing
from lockbuild.indexopts import IndexOptions
from lockbuild.model import Candidate, DistFile, parse_requirement
from lockbuild.pool import DaemonPool
from lockbuild.process import settled
from lockbuild.progress import Progress
from lockbuild.resolve.direct import DirectReferences, local_file
from lockbuild.resolve.files import choose_file
from lockbuild.resolve.provider import Release
from lockbuild.target import Target

Log = Callable[[str], None]
HOOK_WORKERS = 3
SPECULATION_WORKERS = 4
# Wheels' metadata: each is one or two requests to the index (PEP 658 or range reads).
WHEEL_METADATA_WORKERS = 8


class IndexRepository:
    """A Repository over a real index client, the on-disk cache and PEP 517 hooks."""

    def __init__(
        self,
        client: IndexClient,
        target: Target,
        options: IndexOptions,
        cache: Cache,
        *,
        log: Log = lambda message: None,
        detail: Log = lambda message: None,
        env_constraints: Sequence[str] = (),
        as_of_release: bool = False,
        hook_python: str | None = None,
        hook_identity: str = "",
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.options = options
        self.cache = cache
        self.log = log
        self.detail = detail
        # Build overrides and constraints: every environment a backend runs in gets them.
        self.env_constraints = tuple(sorted(set(env_constraints)))
        self.as_of_release = as_of_release
        # Where hooks run (the interpreter's marker values): part of every cached answer.
        self.hook_identity = hook_identity
        self.progress = progress if progress is not None else Progress(sys.stderr, quiet=True)
        # Hook environments look where the lock looks, pip's default index named.
        self.environments = EnvironmentPool(
            options.with_default_index(client.sources.default_index),
            base_python=hook_python,
            memo=_FailedEnvironments(cache, hook_identity) if as_of_release else None,
        )
        self._lock = threading.Lock()
        self._releases: dict[str, list[Release]] = {}
        self._metadata: dict[Candidate, Future[CoreMetadata]] = {}
        # Metadata of sdists may need a build backend: prepared in parallel, ahead of the
        # resolver asking, as soon as a candidate becomes the likely choice.
        self._hooks = DaemonPool(HOOK_WORKERS)
        self._speculation = DaemonPool(SPECULATION_WORKERS)
        self._metadata_workers = DaemonPool(WHEEL_METADATA_WORKERS)
        # get_requires_for_build_wheel started before the fitting asks (build_requires
        # early), by (name, version, pins): the fitting's own call waits for it.
        self._early_hooks = DaemonPool(HOOK_WORKERS)
        self._early: dict[tuple[str, str, tuple[str, ...]], Future[tuple[str, ...]]] = {}
        self._speculated: set[str] = set()
        self._build_systems: dict[str, BuildSystem] = {}
        self._sdist_locks: dict[str, threading.Lock] = {}
        self._sdist_seen: dict[str, tuple[bytes | None, bytes | None]] = {}
        self.direct = DirectReferences(target, self.environments, self._dist_metadata, log)
        # (name, version) -> requirements the build backend added (get_requires_for_build_wheel)
        self._dynamic: dict[tuple[str, str], tuple[str, ...]] = {}
        # (name, version) -> what the hook returned in the last round (for -v)
        self._hook_results: dict[tuple[str, str], tuple[str, ...]] = {}
        # get_requires_for_build_wheel answers, keyed by sdist sha256 and environment pins
        self._build_requires_seen: dict[str, tuple[str, ...]] = {}

    def close(self) -> None:
        """Stop fetching and remove the isolated environments made for hooks."""
        self._hooks.shutdown()
        self._speculation.shutdown()
        self._metadata_workers.shutdown()
        self._early_hooks.shutdown()
        self.client.close()
        self.environments.close()

    # --- releases ---------------------------------------------------------------
    def releases(self, name: NormalizedName) -> Sequence[Release]:
        with self._lock:
            cached = self._releases.get(name)
        if cached is not None:
            return cached
        # Grouped by the version as written (cheap to hash), then merged by Version
        # ("1.0" and "1.0.0" are one release).
        by_text: dict[str, list[Listing]] = {}
        with self.progress.activity(f"reading the index page of {name}"):
            listings = self.client.listings(name)
        for item in listings:
            by_text.setdefault(item.version_text, []).append(item)
        grouped: dict[Version, list[Listing]] = {}
        for items in by_text.values():
            grouped.setdefault(items[0].version, []).extend(items)
        releases = [
            Release(version, tuple(items))
            for version, items in sorted(grouped.items(), key=lambda kv: kv[0], reverse=True)
        ]
        with self._lock:
            self._releases[name] = releases
        return releases

    def prefetch(self, names: Iterable[str]) -> None:
        """Fetch pages ahead of the resolver, and walk ahead of it: for each project, the
        newest usable wheel's metadata, then its dependencies' pages, and so on. Each step
        starts when the one before it is done (no worker waits on another's fetch)."""
        fresh = []
        with self._lock:
            for name in names:
                if name in self._speculated:  # most often: the names come canonical
                    continue
                canonical = canonicalize_name(name)
                if canonical not in self._speculated:
                    self._speculated.add(canonical)
                    fresh.append(canonical)
        for name in fresh:
            self.client.when_listed(
                name, functools.partial(self._speculation.submit, self._speculate, name)
            )

    def _speculate(self, name: NormalizedName) -> None:
        """Best effort: any error here surfaces again when the resolver asks."""
        try:
            for release in self.releases(name)[:5]:
                if release.version.is_prerelease and not self.options.pre:
                    continue
                dist = choose_file(release.files, name, self.target, self.options, False)
                if dist is None:
                    continue
                candidate = Candidate(name, release.version, dist=dist, files=release.files)
                if not dist.is_wheel:
                    self._prepare_environment(dist)
                # An sdist's metadata may need its build backend (and an environment
                # holding its build requirements): started now, in the hook pool; a
                # wheel's is read by a metadata worker. The walk goes on from it when
                # it is done.
                self._metadata_future(candidate).add_done_callback(self._walk_on)
                return
        except Exception:  # noqa: BLE001 - speculation never fails the run
            return

    def _prepare_environment(self, dist: DistFile) -> None:
        """Start installing what an sdist's backend needs to prepare its metadata, ahead
        of the hook (installing numpy or cython takes longer than most hooks)."""
        pkg_info, pyproject = self._sdist_files(dist)
        if usable_pkg_info(pkg_info, dist.filename) is None:
            system = build_system(pyproject, dist.filename)
            self.environments.prepare(
                system.requires,
                dist.filename,
                constraints=self.env_constraints,
                uploaded_before=self.cutoff(dist),
            )

    def cutoff(self, dist: DistFile | None) -> datetime | None:
        """With --build-deps-as-of-release, the sdist's upload time: its build
        requirements admit only releases uploaded by then (None: no cutoff)."""
        if not self.as_of_release or dist is None or dist.is_wheel:
            return None
        return dist.upload_time

    def _walk_on(self, future: Future[CoreMetadata]) -> None:
        """Prefetch the dependencies the metadata in ``future`` names (best effort)."""
        try:
            meta = future.result()
            deps = []
            for text in meta.requires_dist:
                requirement = parse_requirement(text)
                if self.target.evaluate(requirement.marker, [""]):
                    deps.append(requirement.name)
            self.prefetch(deps)
        except Exception:  # noqa: BLE001 - speculation never fails the run
            return

    def unusable_files(self, name: NormalizedName) -> int:
        return self.client.dropped_wheels(name)

    def prefetch_candidate(self, candidate: Candidate) -> None:
        if candidate.dist is not None:
            self._metadata_future(candidate)

    # --- metadata ---------------------------------------------------------------
    def metadata(self, candidate: Candidate) -> CoreMetadata:
        future = self._metadata_future(candidate)
        if self._metadata_pool(candidate) is self._metadata_workers:
            # Not yet begun by a worker: read here rather than queue behind prefetches.
            return self._metadata_workers.wait(future)
        return settled(future)  # backends run only in the hook pool (bounded)

    def _metadata_pool(self, candidate: Candidate) -> DaemonPool:
        """Where a release's metadata is computed: a wheel's (one read from the index)
        by a metadata worker, anything else (a backend may run) in the hook pool."""
        if candidate.url is None and candidate.dist is not None and candidate.dist.is_wheel:
            return self._metadata_workers
        return self._hooks

    def _metadata_future(self, candidate: Candidate) -> Future[CoreMetadata]:
        """One computation per release, shared by every caller (and by prefetching)."""
        base = candidate.base()
        with self._lock:
            future = self._metadata.get(base)
            if future is None:
                future = self._metadata_pool(base).submit(self._compute_metadata, base)
                self._metadata[base] = future
        return future

    def _compute_metadata(self, candidate: Candidate) -> CoreMetadata:
        if candidate.url:
            return self.direct.candidate(candidate.url, candidate.editable)[1]
        assert candidate.dist is not None
        meta = self._dist_metadata(candidate.dist)
        if meta.name != candidate.name or meta.version != candidate.version:
            problem = (
                f"metadata says {meta.name} {meta.version}, "
                f"not {candidate.name} {candidate.version}"
            )
            if not candidate.dist.is_wheel:
                # pip passes over such an sdist too: the release is ruled out.
                raise HookFailed(candidate.dist.filename, "metadata", problem)
            raise DistError(f"{candidate.dist.filename}: {problem}")
        return meta

    def _dist_metadata(self, dist: DistFile) -> CoreMetadata:
        if dist.is_wheel:
            data = self.client.metadata(dist)
            if data is None:
                data = self._wheel_metadata(dist)
            return parse_metadata(data, dist.filename)
        pkg_info, pyproject = self._sdist_files(dist)
        usable = usable_pkg_info(pkg_info, dist.filename)
        if usable is not None:
            return usable
        data = self._hook_metadata(dist, pyproject)
        try:
            return parse_metadata(data, dist.filename)
        except DistError as exc:
            hook = "prepare_metadata_for_build_wheel"
            raise HookFailed(dist.filename, hook, f"returned invalid metadata: {exc}") from None

    def _wheel_metadata(self, dist: DistFile) -> bytes:
        """METADATA read out of a wheel the index offers no metadata file for: through
        range requests where the server answers them (else the wheel is downloaded and
        checked), and kept by the wheel's sha256 so later runs ask nothing."""
        if dist.sha256:
            record = self.cache.get_json("wheel-metadata", dist.sha256)
            if isinstance(record, dict) and isinstance(record.get("metadata"), str):
                return str(record["metadata"]).encode("utf-8", errors="surrogateescape")
        data = None
        if dist.url.startswith(("https://", "http://")):
            try:
                data = wheel_metadata(self.client.open_remote(dist), dist.filename)
            except (FetchError, DistError):
                data = None  # a server that answers ranges badly: read the whole wheel
        if data is None:
            data = wheel_metadata(self.client.download(dist, keep=False), dist.filename)
        if dist.sha256:
            text = data.decode("utf-8", errors="surrogateescape")
            self.cache.put_json("wheel-metadata", dist.sha256, {"metadata": text})
        return data

    def _sdist_files(self, dist: DistFile) -> tuple[bytes | None, bytes | None]:
        """PKG-INFO and pyproject.toml of an sdist, read once per run (speculation and the
        resolver may ask at the same time) and cached by the sdist's sha256."""
        with self._lock:
            lock = self._sdist_locks.setdefault(dist.url, threading.Lock())
        with lock:
            found = self._sdist_seen.get(dist.url)
            if found is None:
                found = self._sdist_seen[dist.url] = self._read_sdist_files(dist)
            return found

    def _read_sdist_files(self, dist: DistFile) -> tuple[bytes | None, bytes | None]:
        sha = self.client.file_hash(dist)
        record = self.cache.get_json("sdist-files", sha)
        if isinstance(record, dict):
            return _maybe_bytes(record.get("pkg_info")), _maybe_bytes(record.get("pyproject"))
        with self.progress.activity(f"fetching {dist.filename}"):
            data = self.client.download(dist)
        contents = read_sdist(data, dist.filename)
        self.cache.put_json(
            "sdist-files",
            sha,
            {
                "pkg_info": _maybe_text(contents.pkg_info),
                "pyproject": _maybe_text(contents.pyproject),
            },
        )
        return contents.pkg_info, contents.pyproject

    def _hook_metadata(self, dist: DistFile, pyproject: bytes | None) -> bytes:
        sha = self.client.file_hash(dist)
        cutoff = self.cutoff(dist)
        # The answer depends on the environment the backend ran in: the key holds what
        # shapes it (the sdist, constraints, upload cutoff, the interpreter it ran on).
        key = sha256_hex(
            json.dumps(
                [sha, self.env_constraints, cutoff.isoformat() if cutoff else None]
                + [self.hook_identity]
            ).encode()
        )
        record = self.cache.get_json("hook-metadata", key)
        if isinstance(record, dict) and isinstance(record.get("metadata"), str):
            return str(record["metadata"]).encode("utf-8")
        system = build_system(pyproject, dist.filename)
        self.log(f"preparing metadata of {dist.filename} with its build backend")
        activity = self.progress.activity(f"preparing metadata of {dist.filename}")
        with activity, tempfile.TemporaryDirectory(prefix="lockbuild-sdist-") as tmp:
            project = extract_archive(self.client.download(dist), dist.filename, Path(tmp))
            prepared = hook_metadata(
                project,
                system,
                self.environments,
                dist.filename,
                constraints=self.env_constraints,
                uploaded_before=cutoff,
                keep_wheel=self._keep_wheel(dist, sha),
            )
        self.detail(
            f"{dist.filename}: metadata prepared in an environment from "
            f"{', '.join(system.requires) or 'nothing'}"
            + (f"; constraints {', '.join(self.env_constraints)}" if self.env_constraints else "")
            + (f"; uploaded by {cutoff.isoformat()}" if cutoff else "")
            + f"; holding {', '.join(prepared.pins) or 'nothing'}"
        )
        # The hook already answered get_requires_for_build_wheel in that environment: a
        # later round whose locked pins are the same reuses it instead of a new one.
        self._remember_build_requires(sha, prepared.pins, prepared.build_requires)
        self.cache.put_json("hook-metadata", key, {"metadata": prepared.metadata.decode("utf-8")})
        return prepared.metadata

    def _keep_wheel(
        self, dist: DistFile, sha: str
    ) -> Callable[[Path, tuple[str, ...], str], object] | None:
        """Where a wheel built only to read metadata goes: the wheelhouse sync reuses."""
        if self.cache.root is None:
            return None
        wheelhouse = self.cache.root / "wheelhouse"
        return lambda wheel, pins, python: keep_metadata_wheel(
            wheelhouse, dist.filename, sha, wheel, pins, python
        )

    def _requires_key(self, identity: str, pins: Sequence[str]) -> str:
        return sha256_hex("\n".join([identity, self.hook_identity, *sorted(pins)]).encode())

    def _remember_build_requires(
        self, identity: str, pins: Sequence[str], requires: Sequence[str]
    ) -> None:
        key = self._requires_key(identity, pins)
        with self._lock:
            self._build_requires_seen[key] = tuple(requires)
        self.cache.put_json("build-requires", key, list(requires))

    # --- build requirements -----------------------------------------------------------
    def build_source(self, candidate: Candidate) -> DistFile | None:
        """The sdist a candidate would be built from (None for a local directory)."""
        if candidate.dist is not None and not candidate.dist.is_wheel:
            return candidate.dist
        sdists = [f for f in candidate.files if not f.is_wheel and not f.is_yanked]
        sdists.sort(key=lambda f: not f.filename.endswith(".tar.gz"))
        return sdists[0] if sdists else None

    def _build_origin(self, candidate: Candidate) -> tuple[DistFile | None, Path | None]:
        """What a build starts from: an sdist, or (for a local project) its directory."""
        local = local_file(candidate.url) if candidate.url else None
        if local is not None and local.is_dir():
            return None, local
        return self.build_source(candidate), local

    def build_system(self, candidate: Candidate) -> BuildSystem:
        source, local = self._build_origin(candidate)
        key = source.url if source is not None else str(local)
        with self._lock:
            cached = self._build_systems.get(key)
        if cached is not None:
            return cached
        if source is None:
            assert local is not None
            pyproject_path = local / "pyproject.toml"
            data = pyproject_path.read_bytes() if pyproject_path.exists() else None
            system = build_system(data, str(pyproject_path))
        else:
            system = build_system(self._sdist_files(source)[1], source.filename)
        with self._lock:
            self._build_systems[key] = system
        return system

    def build_requires(self, candidate: Candidate) -> Sequence[str]:
        """Static build requirements plus those the backend's hook added so far."""
        static = self.build_system(candidate).requires
        with self._lock:
            dynamic = self._dynamic.get((candidate.name, str(candidate.version)), ())
        return (*static, *dynamic)

    def record_hook_answer(self, candidate: Candidate, answer: Sequence[str]) -> tuple[str, ...]:
        """Remember what ``candidate``'s get_requires_for_build_wheel returned; the
        requirements it added to those known so far (they join its build requirements)."""
        key = (candidate.name, str(candidate.version))
        known = set(self.build_requires(candidate))
        new = tuple(r for r in answer if r not in known)
        with self._lock:
            if new:
                self._dynamic[key] = (*self._dynamic.get(key, ()), *new)
            self._hook_results[key] = tuple(answer)
        return new

    def hook_answer(self, candidate: Candidate) -> tuple[str, ...] | None:
        """What its backend's hook returned in the last round (None: not asked)."""
        with self._lock:
            return self._hook_results.get((candidate.name, str(candidate.version)))

    def start_build_requires(self, candidate: Candidate, pins: Sequence[str]) -> None:
        """Begin get_requires_for_build_wheel of ``candidate`` in an environment holding
        exactly ``pins`` now, in the background: a later dynamic_build_requires with the
        same pins takes its answer (it installs the pins alone, constrained by them)."""
        key = (candidate.name, str(candidate.version), tuple(pins))
        with self._lock:
            if key in self._early:
                return
            self._early[key] = self._early_hooks.submit(
                self._build_requires, candidate, key[2], key[2], "wheel", True
            )

    def dynamic_build_requires(
        self,
        candidate: Candidate,
        pins: Sequence[str],
        constraints: Sequence[str],
        target: str = "wheel",
    ) -> tuple[str, ...]:
        """What ``get_requires_for_build_<target>`` (wheel; sdist and editable for
        pip-compile's --build-deps-for) returns in an environment holding exactly
        ``pins`` (the locked static build requirements); cached by the sdist's sha256 and
        those pins."""
        with self._lock:
            early = self._early.get((candidate.name, str(candidate.version), tuple(pins)))
        if early is not None and target == "wheel":
            try:
                return self._early_hooks.wait(early)
            except HookFailed:
                pass  # asked again here, with this call's constraints, as without it
        return self._build_requires(candidate, pins, constraints, target)

    def _build_requires(
        self,
        candidate: Candidate,
        pins: Sequence[str],
        constraints: Sequence[str],
        target: str,
        early: bool = False,
    ) -> tuple[str, ...]:
        system = self.build_system(candidate)
        source, local = self._build_origin(candidate)
        identity = self.client.file_hash(source) if source is not None else None
        if identity is not None and target != "wheel":
            identity = f"{identity} {target}"
        key = None
        if identity is not None:
            key = self._requires_key(identity, pins)
            with self._lock:
                seen = self._build_requires_seen.get(key)
            if seen is not None:
                return seen
            record = self.cache.get_json("build-requires", key)
            if isinstance(record, list):
                return tuple(str(r) for r in record)
        what = source.filename if source is not None else str(local)
        self.log(
            f"asking the build backend of {what} for its build requirements"
            + (" (its build tools are runtime pins: before the fitting)" if early else "")
        )
        activity = self.progress.activity(f"get_requires_for_build_{target} of {what}")
        with activity, tempfile.TemporaryDirectory(prefix="lockbuild-hook-") as tmp:
            if source is not None:
                data = self.client.download(source)
                project = extract_archive(data, source.filename, Path(tmp))
            else:
                assert local is not None
                project = copy_project(local, Path(tmp))
            result = hook_build_requires(
                project, system, self.environments, pins, constraints, what, target
            )
        if key is not None:
            self.cache.put_json("build-requires", key, list(result))
        return tuple(result)

    def url_candidate(self, url: str, editable: bool) -> Candidate:
        return self.direct.candidate(url, editable)[0]


class _FailedEnvironments:
    """Hook environments that failed to build a requirement under an upload cut-off,
    remembered in the cache per (requirements, target, cut-off)."""

    def __init__(self, cache: Cache, identity: str) -> None:
        self.cache = cache
        self.identity = identity

    def _key(self, key: str) -> str:
        return sha256_hex("\n".join([self.identity, key]).encode())

    def recall(self, key: str) -> tuple[str, str] | None:
        found = self.cache.get_json("failed-environments", self._key(key))
        if isinstance(found, list) and len(found) == 2 and all(isinstance(x, str) for x in found):
            return found[0], found[1]
        return None

    def remember(self, key: str, hook: str, reason: str) -> None:
        self.cache.put_json("failed-environments", self._key(key), [hook, reason])


def _maybe_text(data: bytes | None) -> str | None:
    return data.decode("utf-8", errors="surrogateescape") if data is not None else None


def _maybe_bytes(text: object) -> bytes | None:
    return text.encode("utf-8", errors="surrogateescape") if isinstance(text, str) else None
