"""Short-lived tokens are bound to the secret that minted them, and have their own change counter.

- ``short_lived_tokens.parent_key_hash``: the keyed hash of the member-key secret the token was
  exchanged for; the token dies with that secret (revocation, expiry, rotation past its grace).
  Tokens issued before this migration have none and are no longer accepted (they lived an hour at most).
- ``revision`` row 2: bumped by token issuance alone, so a new token makes replicas reload only
  the tokens, not the whole snapshot.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("short_lived_tokens") as batch:
        batch.add_column(sa.Column("parent_key_hash", sa.String(length=64), nullable=True))
    op.execute("INSERT INTO revision (id, value) VALUES (2, 0)")


def downgrade() -> None:
    op.execute("DELETE FROM revision WHERE id = 2")
    with op.batch_alter_table("short_lived_tokens") as batch:
        batch.drop_column("parent_key_hash")
