"""Foreign code, bounded: PEP 517 hooks and the fork server that runs them, isolated
build environments filled by pip or uv, the bounded process runner, the failure of a
backend as a value, and ``programs/``, the files lockbuild runs inside other
interpreters. May import the kernel modules and ``dists``."""
