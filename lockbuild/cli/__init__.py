"""The command line: ``compile``, ``sync``, ``check``, ``why`` and ``wheelhouse``, their
option parsing, ``[tool.lockbuild]`` configuration and the input files (requirements
files, project files, constraints). May import everything."""
