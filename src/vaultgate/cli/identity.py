"""``vaultgate identity``: single sign-on, SCIM provisioning, group mappings, reconciliation (docs/IDENTITY.md).

Each part's commands live in a module of its own and are added to :data:`app` here.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Single sign-on (OIDC), SCIM provisioning, group mappings and reconciliation.", no_args_is_help=True
)

from vaultgate.cli import identity_oidc, identity_sync  # noqa: E402,F401  (their commands join the group)
from vaultgate.cli import identity_scim as _identity_scim  # noqa: E402,F401  - adds its commands to app
