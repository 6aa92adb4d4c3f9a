"""Which deployments may serve a request, in the order to try them (docs/PROVIDERS.md, "Routing").

The model is looked up, in this order: its exact route, the most specific wildcard route
(gateway/route_table.py), an Azure provider with a deployment for it (the implicit behaviour
from before routes), then the default provider. The deployments found are narrowed to the
key's residency; the forward stage fails over along the list that is left.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.route_table import WEIGHTED, Route
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.grants import KeyPolicy
from vaultgate.upstream.config import Deployment, ProviderConfig, ProviderKind

# Deployment types (docs/PROVIDERS.md, "Residency").
GLOBAL, DATAZONE, REGIONAL = "global", "datazone", "regional"
DEPLOYMENT_TYPES = (GLOBAL, DATAZONE, REGIONAL)


def processing_zone(deployment: Deployment) -> str | None:
    """The geography a deployment processes requests in; None: anywhere (``global``) or unknown.

    ``datazone`` and ``regional`` deployments process in their provider's geography; a provider
    with a geography and no deployment type is taken at its word (a server the operator runs
    there). A ``global`` deployment may process anywhere, so it satisfies no residency.
    """
    kind = deployment.deployment_type or deployment.provider.deployment_type
    if kind == GLOBAL:
        return None
    return deployment.provider.geography


def candidates(
    snapshot: Snapshot,
    model: str | None,
    policy: KeyPolicy | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> list[Deployment]:
    """The deployments that may serve ``model`` for a key with ``policy``, in the order to try them.

    ``Deployment.model`` is the name the upstream is sent (an alias's target, an Azure deployment).
    ``rand`` (a float in [0, 1)) picks the first target of a weighted route; tests pass a seeded one.
    Refusals: 404 ``model_not_found`` (an Azure provider with no deployment for the model), 403
    ``residency_not_allowed`` (no deployment in an allowed geography), 503 ``no_provider``.
    """
    route = snapshot.routes.find(model) if model is not None else None
    found = _route_deployments(route, model) if route is not None else [_implicit(snapshot, model)]
    if policy is not None and policy.residency is not None:
        found = [d for d in found if policy.allows_zone(processing_zone(d))]
        if not found:
            raise outside_residency(model, policy.residency)
    if route is not None and route.strategy == WEIGHTED and len(found) > 1:
        found = _weighted_first(found, rand)
    return found


def servable(snapshot: Snapshot, model: str, policy: KeyPolicy) -> bool:
    """Whether a request for ``model`` would find a deployment within ``policy`` (model lists use it)."""
    if not policy.allows_model(model):
        return False
    try:
        return bool(candidates(snapshot, model, policy, rand=lambda: 0.0))
    except GatewayError:
        return False


def _route_deployments(route: Route, model: str | None) -> list[Deployment]:
    """The route's targets with the upstream model resolved; 404/503 when none can serve ``model``."""
    found: list[Deployment] = []
    for target in route.targets:
        if target.model is not None or target.provider.kind is not ProviderKind.AZURE:
            found.append(target)
            continue
        # An Azure target without a model serves the client's model through the provider's deployment map.
        deployment = target.provider.deployments.get(model or "")
        if deployment is not None:
            found.append(Deployment(target.provider, deployment, target.weight, target.deployment_type))
    if found:
        return found
    if route.targets:
        message = f"The model '{(model or '')[:120]}' has no deployment on the providers of its route."
        raise GatewayError(404, "model_not_found", message, param="model")
    raise _no_provider()


def _implicit(snapshot: Snapshot, model: str | None) -> Deployment:
    """No route: an Azure provider with a deployment for the model, else the default provider."""
    provider = choose(snapshot, model)
    if provider.kind is ProviderKind.AZURE and model is not None:
        deployment = provider.deployments.get(model)
        if deployment is None:
            raise GatewayError(
                404,
                "model_not_found",
                f"The model '{model}' has no deployment on provider '{provider.name}'.",
                param="model",
            )
        return Deployment(provider, deployment)
    return Deployment(provider)


def choose(snapshot: Snapshot, model: str | None) -> ProviderConfig:
    """The provider for ``model`` when no route names it; 503 when none is configured."""
    if model is not None:
        for provider in snapshot.providers.values():
            if provider.kind is ProviderKind.AZURE and model in provider.deployments and not provider.is_default:
                return provider
    if snapshot.default_provider is not None:
        return snapshot.providers[snapshot.default_provider]
    raise _no_provider()


def _weighted_first(found: list[Deployment], rand: Callable[[], float]) -> list[Deployment]:
    """One deployment picked by weight goes first; the others follow in position order (failover)."""
    point = rand() * sum(d.weight for d in found)
    for index, deployment in enumerate(found):
        point -= deployment.weight
        if point < 0:
            return [deployment, *found[:index], *found[index + 1 :]]
    return found  # rand() returned 1.0 or more: keep position order


def outside_residency(model: str | None, allowed: frozenset[str]) -> GatewayError:
    # Names the model and the allowed geographies only: which providers exist is the operator's business.
    what = f"The model '{model[:120]}'" if model is not None else "This request"  # client input: bounded
    zones = ", ".join(sorted(allowed)) or "none"
    return GatewayError(
        403,
        "residency_not_allowed",
        f"{what} is not served in a geography your policy allows (allowed: {zones}); "
        "ask your vaultgate admin for a route to a deployment there.",
        param="model" if model is not None else None,
    )


def _no_provider() -> GatewayError:
    return GatewayError(
        503, "no_provider", "No upstream provider is configured: an admin must run 'vaultgate provider add'."
    )
