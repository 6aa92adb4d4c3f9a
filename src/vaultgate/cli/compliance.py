"""``vaultgate compliance records|evidence|verify``: the Art. 30 record and the signed SOC 2 evidence bundle."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from vaultgate.cli.context import control_plane, settings
from vaultgate.cli.output import say
from vaultgate.services import compliance_records, evidence, evidence_bundle, evidence_period
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

app = typer.Typer(
    help="Evidence for auditors: the record of processing and the SOC 2 evidence bundle.", no_args_is_help=True
)

DETAILS_FILE = "processing.toml"


def _details(path: Path | None, data_dir: Path) -> compliance_records.ProcessingDetails:
    """The processing details from ``--details`` (which must exist) or ``<data dir>/processing.toml`` (if any)."""
    file = path or data_dir / DETAILS_FILE
    if path is None and not file.exists():
        return compliance_records.ProcessingDetails()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"no processing details file {file}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the processing details {file}: {exc}") from None
    return compliance_records.parse_details(data)


def _write(text: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        out.write_bytes(text)


@app.command("records")
def records(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="markdown|json")] = "markdown",
    details: Annotated[
        Path | None, typer.Option("--details", help="Processing details TOML (default <data dir>/processing.toml)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout")] = None,
) -> None:
    """The GDPR Art. 30 record of processing, generated from the live configuration."""
    if fmt not in ("markdown", "json"):
        raise InvalidInput(f"invalid --format {fmt[:20]!r}: use markdown or json")
    s = settings(ctx)
    parsed = _details(details, s.data_dir)
    doc = compliance_records.record(control_plane(ctx), LOCAL_OPERATOR, s, parsed)
    if fmt == "json":
        _write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n", out)
    else:
        _write(compliance_records.render_markdown(doc).encode(), out)


@app.command("evidence")
def evidence_cmd(
    ctx: typer.Context,
    period: Annotated[str | None, typer.Option("--period", help="A quarter (2026-Q3) or a month (2026-09)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Start (date or ISO time), with --until")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End, exclusive (date or ISO time)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the bundle to this file instead of stdout")] = None,
    stale_days: Annotated[int, typer.Option("--stale-days", min=1, help="Flag keys unused for this many days")] = 90,
) -> None:
    """Write the signed SOC 2 evidence bundle for a period (access review, joiners/leavers, changes, monitoring)."""
    parsed = evidence_period.parse(period, since, until)
    doc: dict[str, Any] = evidence.build(control_plane(ctx), LOCAL_OPERATOR, parsed, stale_days)
    _write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n", out)
    if out is not None:
        say(f"Evidence bundle for {parsed.label} written to {out} (signing key id {doc['key_id']}).")


@app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle file")],
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="The signing key (base64) obtained out of band, to pin")
    ] = None,
) -> None:
    """Check an evidence bundle's signature; exit 1 if it was altered, 2 if the file is not a bundle."""
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {bundle}: {exc.strerror or exc}") from None
    result = evidence_bundle.check(data, public_key)
    if result.ok:
        say(f"Evidence bundle intact: {result.message}.")
        return
    say(f"Evidence bundle NOT valid: {result.message}.")
    raise typer.Exit(1)
