"""Making an environment match a lock: the plan, building sdists into the wheelhouse in
their exact environments, the installers (pip or uv) and their arguments, and the
``wheelhouse`` command. May import the kernel modules, ``lock``, ``build``, ``index`` and
``dists``."""
