"""A database that turns read-only (a standby, a disk remounted read-only) keeps every usage event.

PostgreSQL refuses writes with ``cannot execute INSERT in a read-only transaction``, which is not
the records' fault: the recorder must keep them (spooled) and write them once writes work again,
never set them aside as malformed.
"""

from __future__ import annotations

import time

import openai
import psycopg
import pytest
from sqlalchemy import select
from tests.conftest import Stack

from vaultgate.store.models import UsageEvent

pytestmark = pytest.mark.postgres


def _set_read_only(stack: Stack, read_only: bool) -> None:
    """Make the database refuse writes (or take them again), on every connection, new or pooled."""
    url = stack.cp.store.engine.url
    name = url.database
    admin = f"postgresql://{url.username or 'postgres'}@{url.host}:{url.port or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if read_only else "off"}')
        # Pooled connections keep the old setting until they reconnect: end them.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    stack.cp.store.engine.dispose()


def _rows(stack: Stack) -> list[str]:
    with stack.cp.store.session() as session:
        return list(session.scalars(select(UsageEvent.request_id)).all())


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_read_only_database_loses_no_usage_event(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=2)
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    client.chat.completions.create(**chat)  # type: ignore[call-overload]
    assert len(stack.usage(1, timeout=30)) == 1

    _set_read_only(stack, True)
    try:
        answered = 0
        for _ in range(20):
            client.chat.completions.create(**chat)  # type: ignore[call-overload]
            answered += 1
        time.sleep(1.0)  # a few flush intervals: the writes are refused while read-only
        with psycopg.connect(str(stack.cp.store.engine.url.set(drivername="postgresql"))) as conn:
            assert conn.execute("SELECT count(*) FROM usage_events").fetchone() == (1,)
    finally:
        _set_read_only(stack, False)

    deadline = time.monotonic() + 60  # the recorder backs off up to 10 s between tries
    while len(_rows(stack)) < 1 + answered and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = _rows(stack)
    assert len(rows) == 1 + answered and len(set(rows)) == len(rows)
    rejected = list((stack.settings.data_dir).rglob("usage-rejected*"))
    assert all(path.stat().st_size == 0 for path in rejected), "read-only writes were set aside as malformed"
