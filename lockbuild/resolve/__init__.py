"""The one joint resolution: the resolvelib provider and the package source it asks,
direct references, the hook rounds and the soft build sides (``--build-deps-for all``),
the resolution graph, conflicts explained, held-back pins and file hashes. May import
the kernel modules, ``index``, ``dists`` and ``build``."""
