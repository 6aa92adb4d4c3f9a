"""``python -m vaultgate.scanner ...``: the ``scan`` command on its own (benchmarks, hooks)."""

from __future__ import annotations

import typer

from vaultgate.cli import scan


def main() -> None:
    """Run the scan command as a one-command application."""
    app = typer.Typer(add_completion=False)

    @app.callback()
    def group() -> None:
        """vaultgate's secret scanner."""

    scan.register(app)
    app()


if __name__ == "__main__":
    main()
