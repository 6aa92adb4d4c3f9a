"""Service errors, translated to exit codes by the CLI and to statuses by the admin API.

ServiceError
├── InvalidInput     the request is malformed or names an impossible value   (400 / exit 2)
│   └── PolicyExceedsCeiling  a key or token asks for more than its ceiling  (400 policy_exceeds_ceiling)
├── NotAuthorised    the actor's role or ownership does not allow it          (403 / exit 1)
├── NotFound         the named object does not exist (or is not visible)     (404 / exit 1)
├── Conflict         the object exists already or is in the wrong state      (409 / exit 1)
├── NotInitialised   the data dir or database has not been initialised       (exit 1)
└── ArchiveRefused   a backup archive is damaged or cannot be restored here  (exit 1; CLI only)
"""


class ServiceError(Exception):
    """Base of every refusal the service layer gives; the message is safe to show."""


class InvalidInput(ServiceError):
    """Malformed input or an impossible value; nothing was changed."""


class PolicyExceedsCeiling(InvalidInput):
    """A key's (or token's) policy is wider than its ceiling and the actor may not raise the ceiling."""

    code = "policy_exceeds_ceiling"


class NotAuthorised(ServiceError):
    """The actor may not do this; nothing was changed."""


class NotFound(ServiceError):
    """No such object (or not one the actor may see)."""


class Conflict(ServiceError):
    """The object already exists or is in a state that forbids the change."""


class NotInitialised(ServiceError):
    """vaultgate has not been initialised for this data dir / database."""


class ArchiveRefused(ServiceError):
    """A backup archive is unreadable, damaged, or cannot be restored here (other database kind, newer
    schema, other master key); nothing was changed."""
