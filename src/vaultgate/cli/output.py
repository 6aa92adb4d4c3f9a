"""Printing results: one JSON document on stdout with ``--json``, a table otherwise; messages to stderr."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# The service layer names the fields of its operations ('api_key'), as the admin API's JSON
# bodies do; a CLI user knows them by their flags. Quoted field names become flags here.
FIELD_FLAGS = {
    "base_url": "--base-url",
    "api_key": "--api-key-env VAR or --api-key-stdin",
    "api_version": "--api-version",
    "deployments": "--deployment MODEL=DEPLOYMENT",
    "allow_insecure_http": "--allow-insecure-http",
    "azure_surface": "--azure-surface",
    "auth": "--auth",
    "tenant_id": "--tenant-id",
    "client_id": "--client-id",
    "token_url": "--token-url",
    "models": "--models",
    "region": "--region",
    "geography": "--geography",
    "deployment_type": "--deployment-type",
    "strategy": "--strategy",
    "targets": "--target",
}
_QUOTED_FIELD = re.compile("'(" + "|".join(map(re.escape, FIELD_FLAGS)) + ")'")


def with_flags(message: str) -> str:
    """A service-layer message with each quoted field name replaced by the CLI flag that sets it."""
    return _QUOTED_FIELD.sub(lambda m: FIELD_FLAGS[m.group(1)], message)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def emit_json(value: Any) -> None:
    """Exactly one JSON document on stdout."""
    if isinstance(value, list):
        value = [_plain(v) for v in value]
    sys.stdout.write(orjson.dumps(_plain(value), default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def emit_table(rows: Sequence[Any], columns: Sequence[str]) -> None:
    """A table of the given fields of each row on stdout."""
    table = Table(*columns, show_edge=False, header_style="bold")
    for row in rows:
        data = _plain(row)
        table.add_row(*["" if data.get(c) is None else str(data.get(c)) for c in columns])
    Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200).print(table)


def say(message: str) -> None:
    """A progress or status line on stderr (never secrets)."""
    err_console.print(message, markup=False)
