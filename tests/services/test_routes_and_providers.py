"""Routes and provider management through the service layer, on SQLite and PostgreSQL: what is stored,
what is refused (with the field named), what the snapshot makes of it, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import make_settings

from vaultgate.services import bootstrap, providers, routes, snapshot_loader
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.store.models import AuditEvent, ProviderCredential

T = routes.TargetSpec


@pytest.fixture
def cp(tmp_path: Path, database_url: str) -> Iterator[ControlPlane]:
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    control = bootstrap.open_control_plane(settings)
    for name in ("main", "b", "c"):
        providers.add(
            control, LOCAL_OPERATOR, name, kind="compatible", base_url=f"https://{name}.example.com/v1", api_key="sk-x"
        )
    providers.add(
        control,
        LOCAL_OPERATOR,
        "az-eu",
        kind="azure",
        base_url="https://eu.openai.azure.com",
        api_key="az-key",
        api_version="2024-10-21",
        deployments={"gpt-4o": "eu-4o"},
        geography="EU",
        deployment_type="datazone",
    )
    yield control
    control.store.dispose()


def audit(cp: ControlPlane, action: str) -> list[tuple[str | None, str]]:
    with cp.store.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)).all()
        return [(r.target, r.outcome) for r in rows]


def test_a_route_is_stored_audited_and_in_the_next_snapshot(cp: ControlPlane) -> None:
    info = routes.add(cp, LOCAL_OPERATOR, "fast", [T("b", "gpt-4o-mini"), T("c", weight=3)], strategy="weighted")
    assert info.targets == [
        {"provider": "b", "model": "gpt-4o-mini", "weight": 1, "deployment_type": None},
        {"provider": "c", "model": None, "weight": 3, "deployment_type": None},
    ]
    assert [r.name for r in routes.list_routes(cp, LOCAL_OPERATOR)] == ["fast"]
    assert routes.show(cp, LOCAL_OPERATOR, "fast") == info
    assert audit(cp, "route.create") == [("fast", "ok")]
    snap = snapshot_loader.load(cp)
    route = snap.routes.find("fast")
    assert route is not None and route.strategy == "weighted"
    assert [(d.provider.name, d.model, d.weight) for d in route.targets] == [("b", "gpt-4o-mini", 1), ("c", None, 3)]
    eu = snap.providers["az-eu"]
    assert (eu.geography, eu.deployment_type) == ("eu", "datazone")  # labels reach the data plane, normalised

    routes.remove(cp, LOCAL_OPERATOR, "fast")
    assert routes.list_routes(cp, LOCAL_OPERATOR) == []
    assert snapshot_loader.load(cp).routes.find("fast") is None
    assert audit(cp, "route.remove") == [("fast", "ok")]
    with pytest.raises(NotFound):
        routes.remove(cp, LOCAL_OPERATOR, "fast")


@pytest.mark.parametrize(
    ("name", "targets", "strategy", "names"),
    [
        ("fast", [T("nope")], "ordered", "no provider named 'nope'"),
        ("fast", [T("b", weight=0)], "ordered", "weight must be between 1 and 1000"),
        ("fast", [T("b", weight=1001)], "ordered", "weight must be between 1 and 1000"),
        ("fast", [], "ordered", "'targets'"),
        ("fast", [T("b")] * 17, "ordered", "at most 16 targets"),
        ("fast", [T("b"), T("b")], "ordered", "named twice"),
        ("fast", [T("b")], "random", "'strategy'"),
        ("fast", [T("b", deployment_type="planet")], "ordered", "deployment_type"),
        ("bad name", [T("b")], "ordered", "invalid route name"),
        ("../x", [T("b")], "ordered", "invalid route name"),
        ("fast", [T("b", "bad model!")], "ordered", "invalid model name"),
        ("o3", [T("az-eu")], "ordered", "has no deployment for 'o3'"),  # Azure target cannot resolve o3
        ("o*", [T("az-eu")], "ordered", "has no deployment for 'o*'"),
    ],
)
def test_route_refusals_name_the_field_and_are_audited(
    cp: ControlPlane, name: str, targets: list[routes.TargetSpec], strategy: str, names: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        routes.add(cp, LOCAL_OPERATOR, name, targets, strategy=strategy)
    assert names in str(refused.value)
    # A refusal names what was asked for by keyed reference: the trail keeps no typed-in text.
    assert audit(cp, "route.create") == [(cp.audit_ref(name), "refused")]
    assert routes.list_routes(cp, LOCAL_OPERATOR) == []


def test_an_azure_target_without_a_model_is_accepted_when_the_deployment_map_resolves_it(cp: ControlPlane) -> None:
    routes.add(cp, LOCAL_OPERATOR, "gpt-4o", [T("az-eu")])
    routes.add(cp, LOCAL_OPERATOR, "gpt-4*", [T("az-eu"), T("b")])
    with pytest.raises(Conflict):
        routes.add(cp, LOCAL_OPERATOR, "gpt-4o", [T("b")])  # duplicate name
    # The update that would take the deployment away from the exact route is refused.
    with pytest.raises(Conflict, match="gpt-4o"):
        providers.update_provider(cp, LOCAL_OPERATOR, "az-eu", deployments={"gpt-4.1": "eu-41"})


def test_parse_target_reads_the_cli_syntax() -> None:
    assert routes.parse_target("b=gpt-4o-mini,weight=3,type=regional") == T("b", "gpt-4o-mini", 3, "regional")
    assert routes.parse_target("az") == T("az")
    for bad in ("=x", "b=", "b,colour=red", "b,weight=x"):
        with pytest.raises(InvalidInput):
            routes.parse_target(bad)


def test_a_provider_in_use_cannot_be_removed_and_the_refusal_names_the_routes(cp: ControlPlane) -> None:
    routes.add(cp, LOCAL_OPERATOR, "fast", [T("b", "gpt-4o-mini")])
    routes.add(cp, LOCAL_OPERATOR, "gpt-*", [T("c"), T("b")])
    with pytest.raises(providers.ProviderInUse) as refused:
        providers.remove(cp, LOCAL_OPERATOR, "b")
    assert refused.value.code == "provider_in_use"
    assert "fast" in str(refused.value) and "gpt-*" in str(refused.value)
    assert audit(cp, "provider.remove") == [(cp.audit_ref("b"), "refused")]
    routes.remove(cp, LOCAL_OPERATOR, "fast")
    routes.remove(cp, LOCAL_OPERATOR, "gpt-*")
    providers.remove(cp, LOCAL_OPERATOR, "b")
    assert "b" not in {p.name for p in providers.list_providers(cp, LOCAL_OPERATOR)}
    assert "b" not in snapshot_loader.load(cp).providers
    with cp.store.session() as session:  # its sealed keys went with it
        assert len(session.scalars(select(ProviderCredential)).all()) == 3
    assert audit(cp, "provider.remove")[-1] == ("b", "ok")


def test_the_default_is_removed_only_when_forced_or_after_set_default(cp: ControlPlane) -> None:
    with pytest.raises(Conflict, match="is the default"):
        providers.remove(cp, LOCAL_OPERATOR, "main")
    providers.set_default(cp, LOCAL_OPERATOR, "c")
    assert snapshot_loader.load(cp).default_provider == "c"
    assert audit(cp, "provider.default") == [("c", "ok")]
    assert [p.name for p in providers.list_providers(cp, LOCAL_OPERATOR) if p.is_default] == ["c"]
    providers.remove(cp, LOCAL_OPERATOR, "main")
    providers.remove(cp, LOCAL_OPERATOR, "c", force=True)
    assert snapshot_loader.load(cp).default_provider is None
    with pytest.raises(NotFound):
        providers.set_default(cp, LOCAL_OPERATOR, "main")


def test_update_rechecks_the_base_url_and_changes_only_what_is_given(cp: ControlPlane) -> None:
    with pytest.raises(InvalidInput, match="'base_url'"):
        providers.update_provider(cp, LOCAL_OPERATOR, "b", base_url="http://b.example.com/v1")
    with pytest.raises(InvalidInput, match="'base_url'"):
        providers.update_provider(cp, LOCAL_OPERATOR, "b", base_url="https://169.254.169.254/v1")
    with pytest.raises(InvalidInput, match="'geography'"):
        providers.update_provider(cp, LOCAL_OPERATOR, "b", geography="Europe/West!")
    info = providers.update_provider(
        cp, LOCAL_OPERATOR, "b", base_url="https://b2.example.com/v1/", region="westeurope", geography="eu"
    )
    assert (info.base_url, info.region, info.geography, info.deployment_type) == (
        "https://b2.example.com/v1",
        "westeurope",
        "eu",
        None,
    )
    info = providers.update_provider(cp, LOCAL_OPERATOR, "b", geography="", deployment_type="regional")
    assert (info.region, info.geography, info.deployment_type) == ("westeurope", None, "regional")
    loaded = snapshot_loader.load(cp).providers["b"]
    assert (loaded.base_url, loaded.region, loaded.deployment_type) == (
        "https://b2.example.com/v1",
        "westeurope",
        "regional",
    )
    assert [t for t, outcome in audit(cp, "provider.update") if outcome == "ok"] == ["b", "b"]
    assert len(audit(cp, "provider.update")) == 5
    with pytest.raises(NotFound):
        providers.update_provider(cp, LOCAL_OPERATOR, "nope", region="x")
