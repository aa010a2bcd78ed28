"""lockbuild: lock the build dependencies of every sdist together with the runtime ones."""

__version__ = "0.1.0"
