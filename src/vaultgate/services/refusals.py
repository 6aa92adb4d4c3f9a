"""Every refused control-plane action is audited, with who tried it and why it was refused."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import NotInitialised, ServiceError

P = ParamSpec("P")
R = TypeVar("R")


def refusals_audited(
    action: str,
) -> Callable[[Callable[Concatenate[ControlPlane, Actor, P], R]], Callable[Concatenate[ControlPlane, Actor, P], R]]:
    """Wrap a service operation ``(cp, actor, ...)`` so a ServiceError is chained as a refused ``action``."""

    def wrap(
        func: Callable[Concatenate[ControlPlane, Actor, P], R],
    ) -> Callable[Concatenate[ControlPlane, Actor, P], R]:
        @functools.wraps(func)
        def run(cp: ControlPlane, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(cp, actor, *args, **kwargs)
            except NotInitialised:
                raise
            except ServiceError as exc:
                target = str(args[0])[:200] if args else None
                cp.audit_refusal(actor, action, target, str(exc)[:300])
                raise

        return run

    return wrap
