"""An initialised vaultgate whose console signs in through an issuer on loopback (hostile or real)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.hostile_issuer import CLIENT_ID, HostileIssuer
from tests.support.servers import ThreadedServer, free_port
from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import bootstrap, identity_signin
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import AuditEvent, IdentityLogin, IdentityUser, Member

CLIENT_SECRET = "client-secret-" + "s3cr3t" * 8


@pytest.fixture
def cp(tmp_path: Path, database_url: str) -> Iterator[ControlPlane]:
    """An initialised control plane on ``database_url`` (SQLite and PostgreSQL), no server."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    bootstrap.init(settings)
    plane = bootstrap.open_control_plane(settings)
    yield plane
    plane.store.dispose()


@dataclass
class SsoStack:
    """vaultgate (control plane and a running gateway) configured for single sign-on."""

    settings: Settings
    cp: ControlPlane
    gateway: ThreadedServer
    admin_token: str

    @property
    def url(self) -> str:
        return self.gateway.url

    def counts(self) -> dict[str, Any]:
        """What a refused sign-in must leave as it was: members, identity links, sign-in audit records."""
        with self.cp.store.session() as session:
            return {
                "members": sorted(session.scalars(select(Member.id)).all()),
                "links": sorted((u.member_id, u.oidc_subject) for u in session.scalars(select(IdentityUser)).all()),
                "roles": sorted(session.execute(select(Member.id, Member.role, Member.team_id, Member.status)).all()),
                "signins": session.scalar(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("identity.%"))
                ),
            }

    def used_logins(self) -> int:
        with self.cp.store.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(IdentityLogin).where(IdentityLogin.used_at.is_not(None))
                )
                or 0
            )


def sso_stack(tmp_path: Path, database_url: str, issuer: str, **settings: Any) -> Iterator[SsoStack]:
    """vaultgate with the console's single sign-on at ``issuer`` (client secret sealed unless told not to)."""
    port = free_port()
    secret = settings.pop("client_secret", CLIENT_SECRET)
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "oidc_issuer": issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_redirect_url": f"http://127.0.0.1:{port}/console/sso/callback",
        **settings,
    }
    config = Settings(**values)
    result = bootstrap.init(config)
    assert result.admin_token is not None
    cp = bootstrap.open_control_plane(config)
    if secret:
        identity_signin.set_client_secret(cp, LOCAL_OPERATOR, secret)
    gateway = ThreadedServer(build(config), port=port).start()
    try:
        yield SsoStack(config, cp, gateway, result.admin_token)
    finally:
        gateway.stop()
        cp.store.dispose()


@pytest.fixture
def hostile() -> Iterator[HostileIssuer]:
    issuer = HostileIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture
def sso(tmp_path: Path, database_url: str, hostile: HostileIssuer) -> Iterator[SsoStack]:
    yield from sso_stack(tmp_path, database_url, hostile.issuer)
