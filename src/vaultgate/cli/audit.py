"""``vaultgate audit``: verifying, anchoring and exporting the audit trail (docs/AUDIT.md)."""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from vaultgate.audit import anchor as anchors
from vaultgate.cli.context import control_plane
from vaultgate.cli.output import emit_json, say
from vaultgate.services import audit_trail
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput
from vaultgate.vault import VerifyKey

app = typer.Typer(help="The keyed, hash-chained audit log.", no_args_is_help=True)

# An anchor file is evidence meant to be copied and checked anywhere: readable by all, written by its owner.
ANCHOR_FILE_MODE = 0o644


@app.command("verify")
def verify(
    ctx: typer.Context,
    anchor_file: Annotated[
        Path | None, typer.Option("--anchor", help="Also check an anchor written by 'audit anchor'")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="Trust this key (base64) for the anchor, given out of band")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Check the chain, its signed checkpoints and an anchor; exit 1 naming the first broken or missing record."""
    anchor = _read_anchor(anchor_file) if anchor_file is not None else None
    pinned = _pinned_key(public_key) if public_key is not None else None
    result = audit_trail.check(control_plane(ctx), LOCAL_OPERATOR, anchor=anchor, trusted_key=pinned)
    broken = result.broken
    if as_json:
        emit_json(
            {
                "records": result.records,
                "checkpoints": result.checkpoints,
                "last_seq": result.last_seq,
                "anchor_seq": result.anchor_seq,
                "ok": result.ok,
                "break": None if broken is None else {"seq": broken.seq, "reason": broken.reason},
            }
        )
    elif broken is None:
        anchored = f", anchor at record {result.anchor_seq} holds" if result.anchor_seq is not None else ""
        say(f"Audit chain intact: {result.records} records and {result.checkpoints} checkpoints verified{anchored}.")
    else:
        say(f"Audit chain BROKEN at record {broken.seq}: {broken.reason}.")
    if broken is not None:
        raise typer.Exit(1)


def _read_anchor(path: Path) -> anchors.Anchor:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"--anchor {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        return anchors.parse(data)
    except anchors.AnchorFormatError as exc:
        raise InvalidInput(f"--anchor {path}: {exc}") from None


def _pinned_key(text: str) -> VerifyKey:
    try:
        return VerifyKey.from_text(text)
    except ValueError as exc:
        raise InvalidInput(f"--public-key: {exc}") from None


@app.command("anchor")
def anchor(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write the anchor to this file (mode 0644)")] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST the anchor to this URL")] = None,
) -> None:
    """Sign the chain's head and print it (or write it to a file, or POST it) to keep outside the database."""
    cp = control_plane(ctx)
    signed = audit_trail.make_anchor(cp, LOCAL_OPERATOR)
    if webhook is not None:
        try:
            audit_trail.send_anchor(cp, signed, webhook)
        except InvalidInput as exc:
            raise InvalidInput(str(exc).replace("'webhook'", "--webhook")) from None
        say(f"Anchor of record {signed.head.seq} sent to the webhook.")
    if out is not None:
        _write(out, signed.to_bytes())
        say(f"Anchor of record {signed.head.seq} written to {out}.")
    if out is None and webhook is None:
        sys.stdout.buffer.write(signed.to_bytes())
        sys.stdout.flush()


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` at once with ``data``, mode 0644 whatever the umask."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, staged = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), ANCHOR_FILE_MODE)
            os.fsync(file.fileno())
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


@app.command("export")
def export(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601, UTC if no zone)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time (ISO 8601, exclusive)")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor's records (member id, cli)")] = None,
    action: Annotated[list[str] | None, typer.Option("--action", help="Only this action (repeatable)")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Only records about this target")] = None,
) -> None:
    """The audit records as JSON Lines on stdout, one per line, for a SIEM."""
    where = audit_trail.record_filter(
        since=_instant("--since", since),
        until=_instant("--until", until),
        actor=actor,
        actions=action or (),
        target=target,
    )
    lines = audit_trail.export(control_plane(ctx), LOCAL_OPERATOR, where)
    out = sys.stdout.buffer
    for line in lines:
        out.write(orjson.dumps(line, default=_plain) + b"\n")
    out.flush()


def _plain(value: Any) -> Any:
    return str(value)


def _instant(flag: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or time (UTC if it names no zone); InvalidInput naming the flag otherwise."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{flag}: not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@app.command("ref")
def ref(ctx: typer.Context, value: Annotated[str, typer.Argument(help="A name or value someone typed")]) -> None:
    """Print how the audit trail names VALUE (a keyed reference), to search refusals for it."""
    print(control_plane(ctx).audit_ref(value))
