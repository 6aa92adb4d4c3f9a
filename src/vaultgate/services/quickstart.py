"""``make run``: make a data dir ready to serve, idempotently, and mint a fresh demo key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from vaultgate.config import Settings
from vaultgate.services import bootstrap, keys, members, providers
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import NotFound
from vaultgate.store.models import Provider

QUICKSTART_MEMBER = "quickstart"
QUICKSTART_KEY_NAME = "quickstart"


@dataclass(frozen=True, slots=True)
class QuickstartResult:
    """What was set up; ``admin_token`` only on the very first run."""

    admin_token: str | None
    provider: str
    provider_kind: str
    member_key: str
    revoked_previous: list[str]


def prepare(settings: Settings, openai_api_key: str | None) -> QuickstartResult:
    """Init if needed, register the provider once, and mint a new quickstart key (revoking older ones)."""
    first = bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    try:
        with cp.store.session() as session:
            existing = {p.name: p.kind for p in session.scalars(select(Provider)).all()}
        if openai_api_key:
            name, kind = "openai", "openai"
            if name not in existing:
                providers.add(cp, LOCAL_OPERATOR, name, kind=kind, api_key=openai_api_key, make_default=True)
        else:
            name, kind = "echo", "echo"
            if name not in existing:
                providers.add(cp, LOCAL_OPERATOR, name, kind=kind, make_default="openai" not in existing)
        try:
            with cp.store.session() as session:
                members.find(session, QUICKSTART_MEMBER)
        except NotFound:
            members.add(cp, LOCAL_OPERATOR, QUICKSTART_MEMBER, role="member")
        revoked = []
        for info in keys.list_keys(cp, LOCAL_OPERATOR, QUICKSTART_MEMBER):
            if info.name == QUICKSTART_KEY_NAME and info.status == "active":
                keys.revoke(cp, LOCAL_OPERATOR, info.id, reason="superseded")
                revoked.append(info.display)
        created = keys.create(cp, LOCAL_OPERATOR, QUICKSTART_MEMBER, name=QUICKSTART_KEY_NAME)
        return QuickstartResult(first.admin_token, name, kind, created.token, revoked)
    finally:
        cp.store.dispose()
