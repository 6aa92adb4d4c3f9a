"""A signed-in request (``Visit``) and a request answered with an error page (``Refused``)."""

from __future__ import annotations

from dataclasses import dataclass

from vaultgate.console.session import Session
from vaultgate.services.context import Actor


class Refused(Exception):
    """A request answered with an error page: its status and a message safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in request: its session, the actor the credential stands for now, the CSRF token."""

    session: Session
    actor: Actor
    csrf: str
