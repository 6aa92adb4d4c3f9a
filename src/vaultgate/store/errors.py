"""Store errors.

StoreError            the database cannot be used (unsupported URL, unreachable, not initialised)
"""


class StoreError(Exception):
    """The database cannot be used; the message says why."""
