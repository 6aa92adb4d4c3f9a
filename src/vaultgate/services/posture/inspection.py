"""What every posture check is given: the settings, the control plane (when it opened), who asks, and now."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from vaultgate.config import Settings
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.posture.finding import Fact, Finding


@dataclass(frozen=True, slots=True)
class Inspection:
    """The inputs of one posture report. ``cp`` is None when the installation could not be opened."""

    settings: Settings
    cp: ControlPlane | None
    actor: Actor
    now: datetime

    @property
    def plane(self) -> ControlPlane:
        """The control plane; only checks that declared they need the store call this."""
        assert self.cp is not None, "a check that needs the store ran without one"
        return self.cp


# A check: everything it found (and the facts it learnt) about one inspection.
CheckFunction = Callable[[Inspection], Iterable[Finding | Fact]]


@dataclass(frozen=True, slots=True)
class Check:
    """A named check; ``needs_store`` ones are skipped (and said to be) when the installation did not open."""

    name: str
    run: CheckFunction
    needs_store: bool = True
