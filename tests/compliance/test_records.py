"""The Art. 30 record from a seeded installation, field by field, in JSON; the Markdown states the same facts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from tests.compliance.conftest import Seeded

from vaultgate.services import compliance_records
from vaultgate.services.context import Actor, Role
from vaultgate.services.errors import InvalidInput, NotAuthorised
from vaultgate.store.models import AuditEvent

DETAILS = """
[controller]
name = "Example Research GmbH"
contact = "privacy@example.com"
dpo = "dpo@example.com"

[purposes]
research = "Summarising public papers"
"""


def audit_records(seeded: Seeded) -> int:
    with seeded.cp.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_the_record_states_the_live_configuration(seeded: Seeded, cli: Callable[..., tuple[int, str, str]]) -> None:
    settings = seeded.stack.settings
    (settings.data_dir / "processing.toml").write_text(DETAILS)
    code, out, err = cli(settings, "compliance", "records", "--format", "json")
    assert code == 0, err
    doc = orjson.loads(out)

    assert doc["install"] == {"database": seeded.cp.store.dialect, "version": "0.1.0"}
    assert doc["controller"]["name"] == "Example Research GmbH"
    assert doc["controller"]["dpo"] == "dpo@example.com"
    assert doc["controller"]["address"].startswith("<to fill in:")
    assert all(v.startswith("<to fill in:") for v in doc["processor"].values())

    purposes = by(doc["purposes"], "team")
    assert purposes["research"] == {
        "team": "research",
        "description": "Summarising public papers",
        "members": 2,
        "suspended": False,
    }
    assert purposes["support"]["description"].startswith("<to fill in:")
    assert purposes["support"]["members"] == 2
    # admin (init), olga, adam, audrey, nora have no team
    assert purposes["(no team)"]["members"] == 5

    categories = by(doc["categories_of_data"], "team")
    research = categories["research"]
    assert research["sent_as_is"] == ["email"]
    assert research["blocked"] == ["person"]
    assert research["masked"] == []
    assert "phone" in research["redacted_and_restored"] and "email" not in research["redacted_and_restored"]
    assert research["secrets"] == "block"
    assert research["zero_retention"] is True
    assert research["residency"] is None
    support = categories["support"]
    assert support["masked"] == ["phone"]
    assert support["sent_as_is"] == [] and support["blocked"] == []
    assert support["secrets"] == "redact"
    assert support["residency"] == ["eu"]
    assert support["zero_retention"] is False
    assert categories["(no team)"]["sent_as_is"] == [] and categories["(no team)"]["secrets"] == "block"

    subjects = by(doc["data_subjects"], "category")
    assert subjects["members"]["count_by_role"] == {"owner": 2, "admin": 2, "auditor": 1, "member": 4}
    assert "end users of member applications" in subjects

    recipients = by(doc["recipients"], "provider")
    assert set(recipients) == {"capture", "openai-us", "azure-eu", "offline"}
    assert recipients["azure-eu"] == {
        "provider": "azure-eu",
        "kind": "azure",
        "host": "eu.openai.azure.com",
        "deployments": ["eu-41", "eu-4o"],
        "default": False,
        "leaves_installation": True,
    }
    assert recipients["openai-us"]["host"] == "api.openai.com"
    assert recipients["capture"]["host"] == "127.0.0.1"
    assert recipients["offline"]["leaves_installation"] is False

    transfers = by(doc["transfers"], "provider")
    assert transfers["azure-eu"] == {
        "provider": "azure-eu",
        "region": "swedencentral",
        "geography": "eu",
        "deployment_type": "datazone",
        "route_deployment_types": ["regional"],
        "known": True,
    }
    assert transfers["openai-us"]["geography"] == "us"
    assert transfers["capture"]["known"] is False  # no geography: the record says the transfer is not known

    assert doc["retention"]["usage_metadata_days"] == 400
    assert doc["retention"]["content"].startswith("never stored")

    measures = doc["technical_measures"]
    assert measures["vault"]["master_key_source"] == f"file {settings.resolved_master_key_file}"
    assert measures["tls"]["serving"].startswith("off")
    assert measures["store_false_forced"] is True and measures["keys_allowing_store"] == 0
    assert measures["zero_retention"] == {"organisation": False, "teams": ["research"]}
    assert measures["redaction"]["teams"]["research"]["email"] == "allow"
    assert measures["redaction"]["teams"]["support"]["phone"] == "mask"
    assert measures["redaction"]["organisation"]["secrets"] == "block"
    chain = measures["audit_chain"]
    assert chain["keyed_records"] + chain["unkeyed_records"] == audit_records(seeded)
    assert measures["audit_chain"]["signing_key_id"] == seeded.cp.audit_keys.signing_key.verify_key.key_id
    assert measures["content_stored"] is False

    # The Markdown renders the same record: every fact checked above appears in it.
    code, markdown, err = cli(settings, "compliance", "records")
    assert code == 0, err
    assert markdown.startswith("# Record of processing activities (GDPR Art. 30)")
    for fact in (
        "Example Research GmbH",
        "dpo@example.com",
        "| research | Summarising public papers | 2 | no |",
        "| azure-eu | azure | eu.openai.azure.com | eu-41, eu-4o | no | yes |",
        "| azure-eu | swedencentral | eu | datazone | regional | yes |",
        "usage_metadata_days: 400",
        f"master_key_source: file {settings.resolved_master_key_file}",
        "store_false_forced: yes",
        "teams: research",
    ):
        assert fact in markdown, fact
    research_row = next(line for line in markdown.splitlines() if line.startswith("| research | email |"))
    assert "| person |" in research_row and "| block |" in research_row


def test_details_and_format_are_checked(seeded: Seeded, cli: Callable[..., tuple[int, str, str]]) -> None:
    settings = seeded.stack.settings
    bad = settings.data_dir / "bad.toml"
    bad.write_text('[controller]\ncolour = "blue"\n')
    code, out, err = cli(settings, "compliance", "records", "--details", str(bad))
    assert (code, out) == (2, "")
    assert "unknown key 'colour' in [controller]" in err
    code, _, err = cli(settings, "compliance", "records", "--format", "pdf")
    assert code == 2 and "use markdown or json" in err
    code, _, err = cli(settings, "compliance", "records", "--details", str(settings.data_dir / "missing.toml"))
    assert code == 2 and "no processing details file" in err
    with pytest.raises(InvalidInput, match="unknown section 'dpa'"):
        compliance_records.parse_details({"dpa": {}})


def test_only_audit_readers_get_the_record(seeded: Seeded) -> None:
    member = Actor(name="erin", role=Role.MEMBER, member_id=seeded.ids["erin"], team_id=None)
    with pytest.raises(NotAuthorised):
        compliance_records.record(seeded.cp, member, seeded.stack.settings)
