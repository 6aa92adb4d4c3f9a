"""The ``vaultgate`` root command: init, serve, quickstart, and the command groups."""

from __future__ import annotations

import errno
import os
import socket
import ssl
import sys
from pathlib import Path
from typing import Annotated

import typer

from vaultgate import __version__
from vaultgate.cli import (
    audit,
    backup,
    client_exec,
    client_login,
    compliance,
    config_cmd,
    doctor,
    identity,
    keys,
    members,
    objects,
    operations,
    org,
    providers,
    routes,
    scan,
    usage,
)
from vaultgate.cli.context import settings
from vaultgate.cli.output import emit_json, say, with_flags
from vaultgate.client.errors import ClientError
from vaultgate.config import ConfigError
from vaultgate.services import bootstrap, quickstart
from vaultgate.services.errors import Conflict, InvalidInput, ServiceError
from vaultgate.store.errors import StoreError, describe_unavailable, unavailable
from vaultgate.upstream.addresses import is_loopback_host
from vaultgate.vault import VaultError

app = typer.Typer(
    name="vaultgate",
    help="A security gateway for the OpenAI API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(providers.app, name="provider")
app.add_typer(routes.app, name="route")
app.add_typer(config_cmd.app, name="config")
app.add_typer(members.app, name="member")
app.add_typer(keys.app, name="key")
app.add_typer(objects.app, name="object")
operations.register(app)
app.add_typer(audit.app, name="audit")
app.add_typer(usage.app, name="usage")
app.add_typer(compliance.app, name="compliance")
app.add_typer(identity.app, name="identity")
app.command("doctor")(doctor.doctor)
backup.register(app)
org.register(app)
scan.register(app)
client_login.register(app)
client_exec.register(app)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default .data)")]


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    data_dir: DataDir = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version")] = False,
) -> None:
    """vaultgate: per-member keys, encrypted provider keys, privacy by default, audit."""
    if version:
        typer.echo(__version__)
        raise typer.Exit
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit
    ctx.obj = data_dir


@app.command()
def init(
    ctx: typer.Context,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Create the database, the master key file (0600) and the first admin token (printed once)."""
    result = bootstrap.init(settings(ctx, data_dir))
    if as_json:
        emit_json(result)
        return
    if not result.created:
        say("Already initialised: nothing changed (the admin token was shown at the first init).")
        return
    say(f"Initialised vaultgate: database {result.database_url.split('@')[-1]}")
    if result.master_key_file:
        say(f"Master key: {result.master_key_file} (mode 0600). Back it up; without it the provider keys are lost.")
    say("Admin token for the 'admin' owner. It is shown once; store it now:")
    typer.echo(result.admin_token)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Listen address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port (default 8080)")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes")] = 1,
    data_dir: DataDir = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert")] = None,
) -> None:
    """Serve the OpenAI-compatible API (/v1) and the admin API (/admin)."""
    # The flags are settings too: checked like the file and the environment, and winning over both.
    s = settings(ctx, data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    from vaultgate import tracing
    from vaultgate.services.bootstrap import open_control_plane

    tls = tls_files(s.tls_cert, s.tls_key)
    bind = s.host
    if tls is None and not is_loopback_host(bind):
        say(
            f"Warning: serving {bind} without TLS: member keys and prompts travel unencrypted unless a proxy "
            "in front terminates TLS (--tls-cert/--tls-key, or VAULTGATE_TLS_CERT/VAULTGATE_TLS_KEY)."
        )

    if workers > 1 and not s.redis_url:
        message = (
            f"with --workers {workers} and no VAULTGATE_REDIS_URL each worker counts rate limits, budgets and "
            f"concurrency on its own: a key gets up to {workers} times its limits"
        )
        if s.require_shared_limits:
            raise ConfigError(message + " (refused: VAULTGATE_REQUIRE_SHARED_LIMITS is set)")
        say("Warning: " + message + ". Set VAULTGATE_REDIS_URL to share them.")
    check_port_free(bind, s.port)
    tracing.check(s.tracing)  # VAULTGATE_TRACING without the extra, or an unusable OTEL_*: one line, here
    # Fail here, with a clear message, not in a worker. It never migrates: a schema behind this
    # vaultgate's is refused (`vaultgate migrate` is an operator's step, after a backup: docs/BACKUP.md).
    cp = open_control_plane(s)
    cp.store.dispose()
    _run_server(s.data_dir, bind, s.port, workers, s.log_level, s.keepalive_timeout, s.drain_timeout, tls)


def tls_files(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, checked now (one-line errors), or None for HTTP."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("TLS needs both a certificate and its key: --tls-cert and --tls-key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use the TLS certificate {cert} with the key {key}: {exc.strerror or exc}") from None
    return cert, key


def check_port_free(host: str, port: int) -> None:
    """Conflict when nothing could listen on ``host:port`` (taken, or not an address of this host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            raise Conflict(f"{host}:{port} {reason}: choose another port with --port (make run PORT=...)") from None


def _run_server(
    data_dir: Path,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    keepalive_timeout: int = 5,
    drain_timeout: float = 25.0,
    tls: tuple[Path, Path] | None = None,
) -> None:
    """uvicorn with vaultgate's app and protocol; the head and body limits come from the app's settings."""
    import uvicorn

    from vaultgate.serving import OPEN_FILES_WANTED, raise_open_files_limit

    open_files = raise_open_files_limit()  # before the workers start: they inherit it
    if open_files < OPEN_FILES_WANTED:
        say(
            f"Warning: this process may open only {open_files} files, and every connection (client, upstream, "
            "database, Redis) is one: a burst of requests can run out. Raise the hard limit (LimitNOFILE= "
            f"in a systemd unit, ulimit -Hn) to at least {OPEN_FILES_WANTED}."
        )
    os.environ["VAULTGATE_DATA_DIR"] = str(data_dir)
    uvicorn.run(
        "vaultgate.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        # httptools with the head deadline and size limits uvicorn lacks (see vaultgate.serving).
        # A string, not the class: with --workers the config is handed to spawned processes.
        http="vaultgate.serving:GuardedHttpToolsProtocol",
        timeout_keep_alive=keepalive_timeout,
        # Realtime sessions (gateway/realtime.py); the denial-response extension lets refusals be JSON.
        ws="websockets-sansio",
        access_log=False,
        log_level=log_level,
        server_header=False,
        # The client address is vaultgate's to decide (VAULTGATE_TRUSTED_PROXIES): uvicorn's own
        # X-Forwarded-For handling would let any loopback client claim another address.
        proxy_headers=False,
        # The gateway ends what still runs after drain_timeout itself (SSE error events, 503s: see
        # Gateway.begin_drain); uvicorn's own cut, which would just close sockets, comes later.
        timeout_graceful_shutdown=int(drain_timeout) + 5,
        # Python's server context accepts TLS 1.2 and 1.3 only (its default minimum since 3.10).
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


@app.command("quickstart")
def quickstart_cmd(
    ctx: typer.Context,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Set up and print, but do not serve")] = False,
) -> None:
    """Set up a data dir (once), register a provider, print a fresh member key and snippets, serve."""
    s = settings(ctx, data_dir, host=host, port=port)
    host, port = s.host, s.port
    if not no_serve:
        check_port_free(host, port)  # before anything is changed (a new key would revoke the last one)
    result = quickstart.prepare(s, os.environ.get("OPENAI_API_KEY") or None)
    if result.admin_token:
        say("Admin token (owner 'admin'). It is shown once; store it now:")
        say(f"  {result.admin_token}")
    for display in result.revoked_previous:
        say(f"Revoked the previous quickstart key {display}.")
    provider = result.provider + (" (offline: answers echo your prompt)" if result.provider_kind == "echo" else "")
    base = f"http://{host}:{port}/v1"
    say(f"Provider: {provider}")
    say("Member key for 'quickstart' (shown once):")
    say(f"  {result.member_key}")
    say("\nTry it:")
    say(
        f"  curl {base}/chat/completions -H 'Authorization: Bearer {result.member_key}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}\''
    )
    say("\nOr with the official SDK (pip install openai):")
    say(
        f"  OPENAI_BASE_URL={base} OPENAI_API_KEY={result.member_key} python -c "
        '"from openai import OpenAI; '
        "print(OpenAI().chat.completions.create(model='gpt-4o-mini', "
        "messages=[{'role': 'user', 'content': 'Hello'}]).choices[0].message.content)\""
    )
    say(f"\nConsole: http://{host}:{port}/console (sign in with the admin token, or the member key for its own view)")
    if no_serve:
        return
    say(f"\nServing on http://{host}:{port} (Ctrl-C to stop)")
    _run_server(s.data_dir, host, port, 1, s.log_level, s.keepalive_timeout, s.drain_timeout)


def run(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors; exit 2 for usage errors, 1 for refused operations."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="vaultgate", standalone_mode=False)
    except typer.Abort:
        print("vaultgate: aborted", file=sys.stderr)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except InvalidInput as exc:
        print(f"vaultgate: error: {with_flags(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except ClientError as exc:  # a member's machine (login, exec...): the message says what to do
        print(f"vaultgate: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ConfigError as exc:  # names file keys, variables and flags itself: not a service message
        print(f"vaultgate: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except (ServiceError, StoreError, VaultError) as exc:
        print(f"vaultgate: error: {with_flags(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # a full disk, a read-only or missing file: the operating system's reason
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"vaultgate: error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        if unavailable(exc):
            print(f"vaultgate: error: the database cannot be used: {describe_unavailable(exc)}", file=sys.stderr)
            sys.exit(1)
        # Typer vendors click, so its UsageError has no public import path: match it by name.
        if not any(cls.__name__ == "UsageError" for cls in type(exc).__mro__):
            raise
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"vaultgate: error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
