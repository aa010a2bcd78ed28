"""The lock as files: the pip-compile style lockfile and its build constraints file, the
PEP 751 pylock pair, their rendering from a resolution, and the digests each file of a
pair records about the other. May import the kernel modules."""
