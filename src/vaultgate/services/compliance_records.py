"""The GDPR Art. 30 record of processing, generated from the live configuration.

What the record says comes from what vaultgate enforces: teams are the purposes, the privacy
policy in force for each team (its ceiling under the organisation's) says which categories of
personal data reach a provider, providers are the recipients and their regions the transfers.
What vaultgate cannot know (who the controller is, how to reach the DPO, what a team uses the
API for) comes from the operator's *processing details* (docs/COMPLIANCE.md), parsed here from
the TOML the CLI reads; a part left out is shown as a placeholder to fill in.

Markdown and JSON carry the same fields: :func:`render_markdown` only formats :func:`record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vaultgate import __version__
from vaultgate.config import Settings
from vaultgate.detect.pii_rules import Entity
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.privacy.modes import DEFAULT_POLICY, Mode, PrivacyPolicy
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import InvalidInput
from vaultgate.services.keys import ceiling_of
from vaultgate.services.org import org_policy
from vaultgate.store.models import AuditCheckpoint, AuditEvent, Member, MemberKey, Provider, RouteTarget, Team

CONTROLLER_FIELDS = ("name", "address", "contact", "representative", "dpo")
PROCESSOR_FIELDS = ("name", "address", "contact")
DEFAULT_USAGE_RETENTION_DAYS = 400
NO_TEAM = "(no team)"


def placeholder(what: str) -> str:
    """The text shown where the operator has not filled a field in."""
    return f"<to fill in: {what}>"


@dataclass(frozen=True, slots=True)
class ProcessingDetails:
    """What only the operator knows: controller, processor, and what each team uses the API for."""

    controller: Mapping[str, str] = field(default_factory=dict)
    processor: Mapping[str, str] = field(default_factory=dict)
    purposes: Mapping[str, str] = field(default_factory=dict)


def parse_details(data: Mapping[str, Any]) -> ProcessingDetails:
    """The processing details from their TOML form; InvalidInput naming the section or key otherwise."""
    known = {"controller": CONTROLLER_FIELDS, "processor": PROCESSOR_FIELDS, "purposes": None}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidInput(
            f"unknown section {unknown[0]!r} in the processing details: use controller, processor, purposes"
        )
    parts: dict[str, dict[str, str]] = {}
    for section, names in known.items():
        raw = data.get(section, {})
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"[{section}] of the processing details must be a table")
        for key, value in raw.items():
            if names is not None and key not in names:
                raise InvalidInput(f"unknown key {key!r} in [{section}]: use {', '.join(names)}")
            if not isinstance(value, str):
                raise InvalidInput(f"{section}.{key} of the processing details must be a string")
        parts[section] = {str(k): v for k, v in raw.items()}
    return ProcessingDetails(parts["controller"], parts["processor"], parts["purposes"])


def record(
    cp: ControlPlane, actor: Actor, settings: Settings, details: ProcessingDetails | None = None
) -> dict[str, Any]:
    """The record of processing as one JSON-ready document (owners, organisation admins, auditors)."""
    access.require_audit_reader(actor)
    details = details or ProcessingDetails()
    with cp.store.session() as session:
        teams = list(session.scalars(select(Team).order_by(Team.name)).all())
        org = _org_policy(session)
        team_policies = {t.name: _team_policy(session, t) for t in teams}
        out: dict[str, Any] = {
            "generated_at": cp.clock().isoformat(),
            "install": install_facts(cp),
            "controller": _filled(details.controller, CONTROLLER_FIELDS, "controller"),
            "processor": _filled(details.processor, PROCESSOR_FIELDS, "processor (who runs vaultgate)"),
            "purposes": _purposes(session, teams, details),
            "categories_of_data": [
                _categories(name, team_policies.get(name, org)) for name in [t.name for t in teams] + [NO_TEAM]
            ],
            "stored_metadata": STORED_METADATA,
            "data_subjects": _subjects(session),
            "recipients": _recipients(session),
            "transfers": _transfers(session),
            "retention": retention(settings),
            "technical_measures": _measures(session, cp, settings, org, team_policies),
        }
    return out


def install_facts(cp: ControlPlane) -> dict[str, str]:
    """The database kind and the vaultgate version of this installation."""
    return {"database": cp.store.dialect, "version": __version__}


def retention(settings: Settings) -> dict[str, Any]:
    """How long each kind of data is kept (usage: the ``usage_retention_days`` setting, 400 days by default)."""
    days = getattr(settings, "usage_retention_days", None) or DEFAULT_USAGE_RETENTION_DAYS
    return {
        "content": "never stored: prompts, completions and files pass through and are not written anywhere",
        "usage_metadata_days": int(days),
        "audit_trail": "kept for the life of the installation (hash-chained; holds ids and keyed references only)",
        "member_records": "until the member is erased (vaultgate member erase)",
        "short_lived_tokens": "until they expire (one hour at most)",
    }


# What the database keeps about people (content never): the fields behind "categories of data".
STORED_METADATA: list[dict[str, str]] = [
    {"data": "member name and email address", "where": "members", "subjects": "members"},
    {"data": "key names, display forms, keyed hashes, policies, dates", "where": "member_keys", "subjects": "members"},
    {"data": "admin token display forms and keyed hashes", "where": "admin_tokens", "subjects": "members"},
    {
        "data": "per request: time, member id, key id, model, tokens, cost, status, keyed pseudonyms of the "
        "client network and user agent",
        "where": "usage_events",
        "subjects": "members",
    },
    {"data": "who changed what, by member id and keyed reference", "where": "audit_events", "subjects": "members"},
    {"data": "ids of stored upstream objects and their owner's id", "where": "owned_objects", "subjects": "members"},
]


def _filled(given: Mapping[str, str], names: tuple[str, ...], what: str) -> dict[str, str]:
    return {name: given.get(name) or placeholder(f"{what} {name}") for name in names}


def _org_policy(session: Session) -> KeyPolicy | None:
    try:
        return org_policy(session)
    except PolicyError:  # unreadable: every key is refused (snapshot_loader), nothing is let through
        return None


def _team_policy(session: Session, team: Team) -> KeyPolicy | None:
    try:
        return ceiling_of(session, team)
    except PolicyError:
        return None


def _purposes(session: Session, teams: list[Team], details: ProcessingDetails) -> list[dict[str, Any]]:
    counts = dict(
        session.execute(
            select(Member.team_id, func.count()).where(Member.status != "erased").group_by(Member.team_id)
        ).all()
    )
    out = []
    for team in teams:
        out.append(
            {
                "team": team.name,
                "description": details.purposes.get(team.name)
                or placeholder(f"what team {team.name} uses the API for (purposes.{team.name})"),
                "members": int(counts.get(team.id, 0)),
                "suspended": team.suspended,
            }
        )
    unassigned = int(counts.get(None, 0))
    if unassigned:
        out.append(
            {
                "team": NO_TEAM,
                "description": details.purposes.get(NO_TEAM)
                or placeholder('what members without a team use the API for (purposes."(no team)")'),
                "members": unassigned,
                "suspended": False,
            }
        )
    return out


def _categories(team: str, policy: KeyPolicy | None) -> dict[str, Any]:
    privacy: PrivacyPolicy = (policy.privacy if policy is not None else None) or DEFAULT_POLICY
    by_mode: dict[Mode, list[str]] = {mode: [] for mode in Mode}
    for entity, mode in sorted(((e.value, privacy.mode(e)) for e in Entity), key=lambda p: p[0]):
        by_mode[mode].append(entity)
    return {
        "team": team,
        "sent_as_is": by_mode[Mode.ALLOW],
        "redacted_and_restored": by_mode[Mode.REDACT],
        "masked": by_mode[Mode.MASK],
        "blocked": by_mode[Mode.BLOCK],
        "secrets": privacy.secrets.value,
        "answers_masked": privacy.response_pii.value == "mask",
        "free_text": "prompt text other than the kinds above reaches the provider as written; never stored",
        "allow_store": bool(policy is not None and policy.allow_store),
        "zero_retention": bool(policy is not None and policy.zero_retention),
        "residency": sorted(policy.residency) if policy is not None and policy.residency is not None else None,
    }


def _subjects(session: Session) -> list[dict[str, Any]]:
    roles = dict(
        session.execute(select(Member.role, func.count()).where(Member.status != "erased").group_by(Member.role)).all()
    )
    return [
        {
            "category": "members",
            "description": "the people and services holding vaultgate keys and admin tokens",
            "count_by_role": {role: int(roles.get(role, 0)) for role in ("owner", "admin", "auditor", "member")},
        },
        {
            "category": "end users of member applications",
            "description": "people whose data appears in prompts a member's application sends; identified "
            "upstream only by a keyed pseudonym (safety_identifier), never stored by vaultgate",
        },
    ]


def _targets(session: Session) -> dict[str, list[RouteTarget]]:
    found: dict[str, list[RouteTarget]] = {}
    for target in session.scalars(select(RouteTarget).order_by(RouteTarget.route_id, RouteTarget.position)).all():
        found.setdefault(target.provider_id, []).append(target)
    return found


def _recipients(session: Session) -> list[dict[str, Any]]:
    targets = _targets(session)
    out = []
    for provider in session.scalars(select(Provider).order_by(Provider.name)).all():
        deployments = set((provider.deployments or {}).values())
        deployments |= {t.model for t in targets.get(provider.id, []) if t.model}
        out.append(
            {
                "provider": provider.name,
                "kind": provider.kind,
                "host": urlsplit(provider.base_url).hostname or provider.base_url,
                "deployments": sorted(deployments),
                "default": provider.is_default,
                "leaves_installation": provider.kind != "echo",
            }
        )
    return out


def _transfers(session: Session) -> list[dict[str, Any]]:
    targets = _targets(session)
    out = []
    for provider in session.scalars(select(Provider).order_by(Provider.name)).all():
        overrides = sorted({t.deployment_type for t in targets.get(provider.id, []) if t.deployment_type})
        out.append(
            {
                "provider": provider.name,
                "region": provider.region,
                "geography": provider.geography,
                "deployment_type": provider.deployment_type,
                "route_deployment_types": overrides,
                "known": provider.kind == "echo" or provider.geography is not None,
            }
        )
    return out


def _measures(
    session: Session,
    cp: ControlPlane,
    settings: Settings,
    org: KeyPolicy | None,
    team_policies: Mapping[str, KeyPolicy | None],
) -> dict[str, Any]:
    source = cp.vault.source
    keyed = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.alg == "hmac-sha256")) or 0
    unkeyed = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.alg != "hmac-sha256")) or 0
    live_policies: list[dict[str, Any]] = list(
        session.scalars(select(MemberKey.policy).where(MemberKey.revoked_at.is_(None))).all()
    )
    store_keys = len([p for p in live_policies if p.get("allow_store")])
    org_privacy = (org.privacy if org is not None else None) or DEFAULT_POLICY
    return {
        "vault": {
            "encryption": "envelope AES-256-GCM; provider keys decrypted only in memory",
            "master_key_source": "environment (VAULTGATE_MASTER_KEY)" if source.env_value else f"file {source.file}",
            "member_keys": "stored only as keyed hashes (HMAC-SHA256)",
        },
        "tls": {
            "serving": "on" if settings.tls_cert and settings.tls_key else "off (terminate TLS in front of vaultgate)",
            "upstream_verification": "always on; plain HTTP only to loopback, per provider, explicitly",
        },
        "redaction": {
            "organisation": _modes(org_privacy),
            "teams": {name: _modes((p.privacy if p else None) or DEFAULT_POLICY) for name, p in team_policies.items()},
        },
        "store_false_forced": store_keys == 0 and not (org is not None and org.allow_store),
        "keys_allowing_store": store_keys,
        "zero_retention": {
            "organisation": bool(org is not None and org.zero_retention),
            "teams": sorted(n for n, p in team_policies.items() if p is not None and p.zero_retention),
        },
        "audit_chain": {
            "keyed_records": int(keyed),
            "unkeyed_records": int(unkeyed),
            "signed_checkpoints": int(session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0),
            "signing_key_id": cp.audit_keys.signing_key.verify_key.key_id,
        },
        "content_stored": False,
    }


def _modes(privacy: PrivacyPolicy) -> dict[str, str]:
    modes = {e.value: privacy.mode(e).value for e in Entity}
    return {**modes, "secrets": privacy.secrets.value, "response_pii": privacy.response_pii.value}


# ---- Markdown --------------------------------------------------------------------------------


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The record as Markdown: the same fields as the JSON, as headed sections and tables."""
    lines = ["# Record of processing activities (GDPR Art. 30)", ""]
    lines += [
        f"Generated {doc['generated_at']} by vaultgate {doc['install']['version']} ({doc['install']['database']}).",
        "",
    ]
    for section, title in (("controller", "Controller"), ("processor", "Processor")):
        lines += [f"## {title}", ""] + [f"- {k}: {v}" for k, v in doc[section].items()] + [""]
    lines += _table("Purposes of processing", doc["purposes"])
    lines += _table("Categories of personal data (per team)", doc["categories_of_data"])
    lines += _table("Stored metadata", doc["stored_metadata"])
    lines += _table("Categories of data subjects", doc["data_subjects"])
    lines += _table("Recipients", doc["recipients"])
    lines += _table("International transfers", doc["transfers"])
    lines += ["## Retention", ""] + [f"- {k}: {v}" for k, v in doc["retention"].items()] + [""]
    lines += ["## Technical and organisational measures", ""]
    lines += _nested(doc["technical_measures"], 0)
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|")


def _table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"## {title}", ""]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    if not rows:
        return [*lines, "(none)", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return [*lines, ""]


def _nested(values: Mapping[str, Any], depth: int) -> list[str]:
    lines = []
    for key, value in values.items():
        if isinstance(value, Mapping) and any(isinstance(v, Mapping) for v in value.values()):
            lines.append("  " * depth + f"- {key}:")
            lines += _nested(value, depth + 1)
        else:
            lines.append("  " * depth + f"- {key}: {_cell(value)}")
    return lines
