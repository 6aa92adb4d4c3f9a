"""Settings and control plane for a CLI invocation (the root ``--data-dir`` rides on click's context)."""

from __future__ import annotations

from pathlib import Path

import typer

from vaultgate import config
from vaultgate.services.bootstrap import open_control_plane
from vaultgate.services.context import ControlPlane


def loaded_settings(
    ctx: typer.Context,
    data_dir: Path | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> config.LoadedSettings:
    """Settings and their origins, with the flags given (``--data-dir`` here or before the subcommand) on top."""
    root_dir = ctx.find_root().obj if ctx.find_root().obj else None
    return config.load_with_origins(
        data_dir=data_dir or root_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key
    )


def settings(
    ctx: typer.Context,
    data_dir: Path | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> config.Settings:
    """Settings from file and environment, with the flags given (not None) on top."""
    return loaded_settings(ctx, data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key).settings


def control_plane(ctx: typer.Context, data_dir: Path | None = None) -> ControlPlane:
    """The control plane for this invocation's data dir; its connections close with the command."""
    cp = open_control_plane(settings(ctx, data_dir))
    ctx.call_on_close(cp.store.dispose)
    return cp
