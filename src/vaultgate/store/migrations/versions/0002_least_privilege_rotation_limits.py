"""Least privilege, rotation and limits: team ceilings, key rotation and canaries, short-lived
tokens, org settings (lockdown), limits on keys/members/teams, usage cost.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY = sa.text("'{}'")
FALSE = sa.false()


def upgrade() -> None:
    op.create_table(
        "org_settings",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "short_lived_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["member_keys.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_short_lived_tokens_expires_at", "short_lived_tokens", ["expires_at"])
    op.create_index("ix_short_lived_tokens_key_id", "short_lived_tokens", ["key_id"])

    with op.batch_alter_table("admin_tokens") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=True))

    with op.batch_alter_table("member_keys") as batch_op:
        batch_op.add_column(sa.Column("limits", sa.JSON(), nullable=False, server_default=EMPTY))
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("previous_key_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("canary", sa.Boolean(), nullable=False, server_default=FALSE))
    op.create_index("ix_member_keys_previous_key_hash", "member_keys", ["previous_key_hash"], unique=True)
    op.create_index("ix_member_keys_previous_fingerprint", "member_keys", ["previous_fingerprint"], unique=True)

    with op.batch_alter_table("members") as batch_op:
        batch_op.add_column(sa.Column("limits", sa.JSON(), nullable=False, server_default=EMPTY))

    with op.batch_alter_table("teams") as batch_op:
        batch_op.add_column(sa.Column("policy", sa.JSON(), nullable=False, server_default=EMPTY))
        batch_op.add_column(sa.Column("limits", sa.JSON(), nullable=False, server_default=EMPTY))
        batch_op.add_column(sa.Column("max_key_age_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("expire_overdue_keys", sa.Boolean(), nullable=False, server_default=FALSE))

    with op.batch_alter_table("usage_events") as batch_op:
        batch_op.add_column(sa.Column("cost_usd", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch_op:
        batch_op.drop_column("cost_usd")
    with op.batch_alter_table("teams") as batch_op:
        for column in ("expire_overdue_keys", "max_key_age_days", "limits", "policy"):
            batch_op.drop_column(column)
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_column("limits")
    op.drop_index("ix_member_keys_previous_fingerprint", "member_keys")
    op.drop_index("ix_member_keys_previous_key_hash", "member_keys")
    with op.batch_alter_table("member_keys") as batch_op:
        for column in (
            "canary",
            "previous_expires_at",
            "previous_fingerprint",
            "previous_key_hash",
            "rotated_at",
            "not_before",
            "limits",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("admin_tokens") as batch_op:
        batch_op.drop_column("role")
    op.drop_table("short_lived_tokens")
    op.drop_table("org_settings")
