"""Foreign code, bounded: PEP 517 hooks and the fork server that runs them, isolated
build environments filled by pip or uv, the failure of a backend as a value, other
interpreters asked about themselves, the provenance record of a wheel built from an sdist
and its place in the wheelhouse, and ``programs/``, the files lockbuild runs inside other
interpreters. Programs are started by the kernel's bounded runner (``lockbuild.process``).
May import the kernel modules and ``dists``."""
