"""The ``filiere`` command line: ``main`` for tests and ``python -m workflow``, ``run`` for the script."""

from workflow.cli.main import cli, main, run

__all__ = ["cli", "main", "run"]
