"""Identity: OIDC sign-in for the console and SCIM 2.0 provisioning (docs/IDENTITY.md).

The protocols live here (what an identity provider sends and how it is checked); what they change
(members, their credentials, group mappings) is done by the services, like every other change.
"""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "oidc",
    "oidc_tokens",
    "revocation",
    "scim",
]
