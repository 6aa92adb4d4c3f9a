"""Request facts as the data plane builds them: group and model requirement from the endpoint templates."""

from __future__ import annotations

from typing import Any

from vaultgate.gateway.endpoints import endpoint_of
from vaultgate.policy.decide import RequestFacts


def group_of(path: str) -> str | None:
    """The scope group of a served path (None: no template, or vaultgate's own endpoint)."""
    endpoint = endpoint_of(path)
    return endpoint.group if endpoint is not None else None


def takes_model(method: str, path: str) -> bool:
    """Whether the request body must name a model for a model allowlist to be checked."""
    endpoint = endpoint_of(path)
    return method == "POST" and endpoint is not None and endpoint.takes_model


def request_facts(method: str, path: str, model: str | None, client_ip: Any) -> RequestFacts:
    """The facts the pipeline's authorize stage hands to ``decide``."""
    return RequestFacts(method, path, model, client_ip, group_of(path), takes_model(method, path))
