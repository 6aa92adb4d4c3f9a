"""SCIM 2.0 provisioning at ``/scim/v2`` (RFC 7643/7644): Users and Groups, for identity providers.

``app`` is the Starlette app the server mounts; ``resources`` the SCIM shapes and their mapping to the
service records; ``listing`` filters, pagination and attribute selection; ``auth`` the ``vgs_`` bearer.
"""

__all__ = ["PREFIX", "app"]

# Where the server mounts the app; here, not in ``app``, so the server routes without importing scim2-models.
PREFIX = "/scim/v2"
