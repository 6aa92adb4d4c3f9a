"""Privacy end-to-end tests run on SQLite only (the database is not what they test) with an echoing upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.privacy.echo_upstream import EchoUpstream
from tests.support.servers import ThreadedServer


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vaultgate.db'}"


@pytest.fixture
def capture_upstream() -> Iterator[tuple[Any, ThreadedServer]]:
    upstream = EchoUpstream()
    server = ThreadedServer(upstream).start()
    yield upstream, server
    server.stop()
