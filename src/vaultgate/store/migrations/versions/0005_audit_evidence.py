"""Evidence for auditors: a keyed audit chain with signed checkpoints, and richer usage records.

- ``audit_events.alg``: how the record is chained. Records written before this migration keep
  ``sha256`` (the unkeyed chain); every new record is ``hmac-sha256`` under a key sealed in the
  vault, and the first keyed record's MAC covers the last unkeyed hash, so the old prefix cannot be
  rewritten without breaking it.
- ``audit_checkpoints``: Ed25519-signed heads of the chain (the signing key is sealed in the vault).
- ``usage_events.team_id``: the member's team when the request was served (spend per team).
- ``usage_events.client_hash`` / ``agent_hash``: keyed pseudonyms of the client's network and
  user agent, never the address or the string itself; ``doctor`` counts them to find shared keys.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("alg", sa.String(length=20), nullable=False, server_default="sha256"))
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
    )
    with op.batch_alter_table("usage_events") as batch:
        batch.add_column(sa.Column("team_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("client_hash", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("agent_hash", sa.String(length=32), nullable=True))
        batch.create_index("ix_usage_events_team_id", ["team_id"])


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_index("ix_usage_events_team_id")
        batch.drop_column("agent_hash")
        batch.drop_column("client_hash")
        batch.drop_column("team_id")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("alg")
