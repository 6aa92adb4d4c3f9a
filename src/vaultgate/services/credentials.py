"""Provider credentials with zero-downtime rotation: add the new key, drain the old, remove it.

A provider may hold several credentials. New requests use the newest ``active`` one; a
``draining`` credential takes no new requests but is kept (requests already sent with it
finish normally) until it is removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import Provider, ProviderCredential


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A provider credential's metadata; never the key."""

    id: str
    provider: str
    state: str
    created_at: datetime


def _provider(session: Session, name: str) -> Provider:
    provider = session.scalar(select(Provider).where(Provider.name == name))
    if provider is None:
        raise NotFound(f"no provider named {name!r}")
    return provider


def _credential(session: Session, provider: Provider, cred_id: str) -> ProviderCredential:
    cred = session.get(ProviderCredential, cred_id)
    if cred is None or cred.provider_id != provider.id:
        raise NotFound(f"provider {provider.name!r} has no credential {cred_id!r}")
    return cred


def seal_new(cp: ControlPlane, session: Session, provider: Provider, api_key: str) -> str:
    """Add an active credential holding ``api_key`` sealed by the vault (the row id is its associated data)."""
    cred_id = new_id("cred")
    session.add(
        ProviderCredential(
            id=cred_id,
            provider_id=provider.id,
            sealed=cp.vault.seal(cred_id, api_key.encode()),
            state="active",
            created_at=cp.clock(),
        )
    )
    return cred_id


@refusals_audited("provider.credential.add")
def add(cp: ControlPlane, actor: Actor, provider_name: str, api_key: str) -> CredentialInfo:
    """Seal and add a new credential; it serves new requests from the next refresh on."""
    access.require_org_manager(actor, "change provider credentials")
    if not api_key:
        raise InvalidInput("the new API key is empty")
    now = cp.clock()
    with cp.store.session() as session:
        provider = _provider(session, provider_name)
        cred_id = seal_new(cp, session, provider, api_key)
        cp.audit(session, actor, "provider.credential.add", provider.name, credential=cred_id)
        cp.store.notify_change(session)
        return CredentialInfo(cred_id, provider.name, "active", now)


@refusals_audited("provider.credential.drain")
def drain(cp: ControlPlane, actor: Actor, provider_name: str, cred_id: str) -> CredentialInfo:
    """Stop sending new requests with a credential; refused if it is the last active one."""
    access.require_org_manager(actor, "change provider credentials")
    with cp.store.session() as session:
        provider = _provider(session, provider_name)
        cred = _credential(session, provider, cred_id)
        if cred.state != "active":
            raise Conflict(f"credential {cred_id} is already {cred.state}")
        others = session.scalars(
            select(ProviderCredential.id).where(
                ProviderCredential.provider_id == provider.id,
                ProviderCredential.state == "active",
                ProviderCredential.id != cred.id,
            )
        ).all()
        if not others:
            raise Conflict(f"credential {cred_id} is the only active one of {provider.name!r}: add the new key first")
        cred.state = "draining"
        cp.audit(session, actor, "provider.credential.drain", provider.name, credential=cred_id)
        cp.store.notify_change(session)
        return CredentialInfo(cred.id, provider.name, cred.state, cred.created_at)


@refusals_audited("provider.credential.remove")
def remove(cp: ControlPlane, actor: Actor, provider_name: str, cred_id: str) -> CredentialInfo:
    """Delete a drained credential (the sealed key is gone for good)."""
    access.require_org_manager(actor, "change provider credentials")
    with cp.store.session() as session:
        provider = _provider(session, provider_name)
        cred = _credential(session, provider, cred_id)
        if cred.state == "active":
            raise Conflict(f"credential {cred_id} is active: drain it first")
        info = CredentialInfo(cred.id, provider.name, "removed", cred.created_at)
        session.delete(cred)
        cp.audit(session, actor, "provider.credential.remove", provider.name, credential=cred_id)
        cp.store.notify_change(session)
        return info


def list_credentials(cp: ControlPlane, actor: Actor, provider_name: str) -> list[CredentialInfo]:
    """A provider's credentials, newest first (never the keys)."""
    access.require_org_manager(actor, "list provider credentials")
    with cp.store.session() as session:
        provider = _provider(session, provider_name)
        rows = session.scalars(
            select(ProviderCredential)
            .where(ProviderCredential.provider_id == provider.id)
            .order_by(ProviderCredential.created_at.desc())
        ).all()
        return [CredentialInfo(c.id, provider.name, c.state, c.created_at) for c in rows]
