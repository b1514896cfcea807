"""The ``recpilot`` command line (``main(argv) -> int`` is the testable entry point)."""

from recpilot.cli.app import app, main

__all__ = ["app", "main"]
