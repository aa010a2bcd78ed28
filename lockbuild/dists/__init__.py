"""Distributions as files: archives read in memory and bounded, core metadata,
the PEP 518 build-system table, and sdist file names as pip reads them. Pure reading of
bytes, no network and no processes; may import only the kernel modules at the top of
``lockbuild``."""
