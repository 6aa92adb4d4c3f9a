"""Store errors.

StoreError            the database cannot be used (unsupported URL, unreachable, not initialised)
├── SchemaMismatch    its schema is behind this vaultgate's (run ``vaultgate migrate``) or ahead of it
├── ToolFailed        a PostgreSQL client tool (pg_dump, pg_restore, psql) is missing or failed
└── AuditNotRecorded  the database refused a change's audit record: the change was rolled back (fail closed)

:func:`unavailable` tells a database that is down, unreachable, restarting, read-only or full
apart from a defect, so that callers answer "retry later" (503 on the admin API, one line on
the CLI) instead of a generic failure.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StoreError(Exception):
    """The database cannot be used; the message says why."""


class SchemaMismatch(StoreError):
    """The database's schema revision is not the one this vaultgate serves; nothing was changed."""


class ToolFailed(StoreError):
    """A PostgreSQL client tool is missing or reported an error (its first line, never a password)."""


class AuditNotRecorded(StoreError):
    """The audit record of a change could not be written, so the change was not made (its transaction
    rolled back). The admin API answers 503 ``audit_unavailable``, the CLI one line and exit 1."""


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be used right now (not that the request was wrong)."""
    if isinstance(exc, (OperationalError, DisconnectionError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def describe_unavailable(exc: BaseException) -> str:
    """A one-line, secret-free reason: the driver's first line (no SQL, no parameters, no URL)."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return first[:200]
