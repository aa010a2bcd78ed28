"""The command line: ``compile``, ``sync``, ``check``, ``why`` and ``wheelhouse``, their
option parsing, ``[tool.lockbuild]`` configuration, the input files (requirements
files, project files, constraints) and the replay of an unchanged compile (it reads
the index and the lock both). May import everything."""
