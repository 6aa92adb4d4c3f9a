"""Providers against the guide: credentials rotated within policy, and upstreams reached over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from sqlalchemy import select

from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import Provider, ProviderCredential
from vaultgate.upstream.addresses import is_loopback_host


def credential_age(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Active or draining credentials older than ``posture_provider_key_max_age_days`` (medium)."""
    limit = inspection.settings.posture_provider_key_max_age_days
    with inspection.plane.store.session() as session:
        rows = session.execute(
            select(ProviderCredential, Provider)
            .join(Provider, ProviderCredential.provider_id == Provider.id)
            .order_by(Provider.name, ProviderCredential.created_at)
        ).all()
    for cred, provider in rows:
        age = max(0, (inspection.now - cred.created_at).days)
        if age < limit:
            continue
        add = command("provider", "key", "add", provider.name, "--api-key-stdin")
        drain = command("provider", "key", "drain", provider.name, cred.id)
        yield Finding(
            "provider.credential_age",
            Severity.MEDIUM,
            f"provider credential not rotated for {age} days (max {limit})",
            provider.name,
            {
                "provider": provider.name,
                "credential_id": cred.id,
                "state": cred.state,
                "age_days": age,
                "max_age_days": limit,
                "created_at": cred.created_at.isoformat(),
            },
            f"{add} && {drain}"
            if cred.state == "active"
            else command("provider", "key", "remove", provider.name, cred.id),
        )


def plain_http(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Upstreams over plain HTTP: beyond loopback high (the provider key travels unencrypted), on loopback info."""
    with inspection.plane.store.session() as session:
        providers = session.scalars(select(Provider).order_by(Provider.name)).all()
    for provider in providers:
        try:
            parts = urlsplit(provider.base_url)
            host = parts.hostname or ""
        except ValueError:
            continue
        if parts.scheme != "http":
            continue
        evidence = {
            "provider": provider.name,
            "base_url": provider.base_url,
            "allow_insecure_http": provider.allow_insecure_http,
        }
        fix = command("provider", "update", provider.name, "--base-url", "https://HOST/v1")
        if is_loopback_host(host):
            yield Finding(
                "provider.loopback_http",
                Severity.INFO,
                "upstream on plain HTTP to this host (allowed for loopback only)",
                provider.name,
                evidence,
                fix,
            )
        else:
            yield Finding(
                "provider.plain_http",
                Severity.HIGH,
                f"upstream on plain HTTP beyond loopback ({host}): the provider key travels unencrypted",
                provider.name,
                evidence,
                fix,
            )


CHECKS = (Check("provider.credential_age", credential_age), Check("provider.plain_http", plain_http))
