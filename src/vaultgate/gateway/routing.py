"""Which deployments may serve a request, in the order to try them.

Today: an Azure provider with a deployment for the model, else the default provider
(one candidate). The routing table (issue 10) replaces this with routes over many
deployments; the forward stage fails over along the list.
"""

from __future__ import annotations

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.grants import KeyPolicy
from vaultgate.upstream.config import Deployment, ProviderConfig, ProviderKind


def candidates(snapshot: Snapshot, model: str | None, policy: KeyPolicy | None = None) -> list[Deployment]:
    """The deployments that may serve ``model`` for a key with ``policy``, in the order to try; 503 when none.

    ``Deployment.model`` is the name the upstream is sent: for Azure, routing resolves the
    deployment here (the adapter uses it as given); 404 ``model_not_found`` when an Azure
    provider has no deployment for the model.
    """
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
        return [Deployment(provider, deployment)]
    return [Deployment(provider)]


def choose(snapshot: Snapshot, model: str | None) -> ProviderConfig:
    """The provider for ``model``; 503 when none is configured."""
    if model is not None:
        for provider in snapshot.providers.values():
            if provider.kind is ProviderKind.AZURE and model in provider.deployments and not provider.is_default:
                return provider
    if snapshot.default_provider is not None:
        return snapshot.providers[snapshot.default_provider]
    raise GatewayError(
        503, "no_provider", "No upstream provider is configured: an admin must run 'vaultgate provider add'."
    )
