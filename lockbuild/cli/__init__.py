"""The command line: ``compile``, ``sync``, ``check``, ``why`` and ``wheelhouse``, their
option parsing, ``[tool.lockbuild]`` configuration, the input files (requirements
files, project files, constraints), the replay of an unchanged compile, and the
resolution made into the lock pair (both read the index or the resolution and the lock
together). May import everything."""
