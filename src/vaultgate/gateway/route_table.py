"""The routing table as the data plane holds it: model names to the deployments that serve them.

Built once per snapshot (services/snapshot_loader.py), so a request costs one dict lookup for an
exact name and, only when that misses, a scan of the wildcard routes (few, most specific first).
Wildcards use the model-allowlist syntax of :func:`vaultgate.policy.grants.model_pattern`: ``*`` is
any run of characters except ``/``; everything else is literal. The most specific wildcard wins:
the one with the longest literal part (ties: the name that sorts first, so the choice is stable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from vaultgate.policy.grants import model_pattern
from vaultgate.upstream.config import Deployment

ORDERED = "ordered"
WEIGHTED = "weighted"
STRATEGIES = (ORDERED, WEIGHTED)


@dataclass(frozen=True, slots=True)
class Route:
    """One routing rule: its name (exact, ``*`` wildcard or alias) and its deployments in position order.

    ``ordered`` tries the targets in position order; ``weighted`` picks the first at random by
    weight and keeps the others, in position order, as failover.
    """

    name: str
    strategy: str
    targets: tuple[Deployment, ...]

    @property
    def is_wildcard(self) -> bool:
        """Whether the name is a pattern rather than one model name."""
        return "*" in self.name

    @property
    def specificity(self) -> int:
        """The length of the literal part: the longer, the more specific a wildcard."""
        return len(self.name) - self.name.count("*")


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Exact routes by name, and wildcard routes most specific first."""

    exact: Mapping[str, Route] = field(default_factory=lambda: MappingProxyType({}))
    wildcards: tuple[tuple[re.Pattern[str], Route], ...] = ()

    @classmethod
    def of(cls, routes: Iterable[Route]) -> RouteTable:
        """The table for ``routes`` (each name at most once: the store's unique index sees to it)."""
        exact: dict[str, Route] = {}
        wild: list[Route] = []
        for route in routes:
            if route.is_wildcard:
                wild.append(route)
            else:
                exact[route.name] = route
        wild.sort(key=lambda r: (-r.specificity, r.name))
        return cls(MappingProxyType(exact), tuple((model_pattern(r.name), r) for r in wild))

    def find(self, model: str) -> Route | None:
        """The route for ``model``: its exact route, else the most specific wildcard that matches."""
        route = self.exact.get(model)
        if route is not None:
            return route
        for pattern, candidate in self.wildcards:
            if pattern.fullmatch(model):
                return candidate
        return None

    def aliases(self) -> tuple[str, ...]:
        """The exact route names, sorted: models a client may ask for by name (``/v1/models`` lists them)."""
        return tuple(sorted(self.exact))

    def __len__(self) -> int:
        return len(self.exact) + len(self.wildcards)
