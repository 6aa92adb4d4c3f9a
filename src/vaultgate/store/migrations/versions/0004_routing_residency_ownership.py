"""Routing table, residency labels on providers, adapter settings, and object ownership.

- ``providers``: ``region``, ``geography``, ``deployment_type`` (residency) and ``settings``
  (non-secret adapter settings such as the Azure surface and Entra ID client).
- ``routes`` and ``route_targets``: model names (exact, wildcard, aliases) to ordered or
  weighted deployments across providers.
- ``owned_objects``: which member owns each stored upstream object (files, batches, responses...).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        batch.add_column(sa.Column("region", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("geography", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("deployment_type", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "routes",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, unique=True),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "route_targets",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("route_id", sa.String(length=40), sa.ForeignKey("routes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=40), sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("deployment_type", sa.String(length=20), nullable=True),
    )
    op.create_index("ix_route_targets_route_id", "route_targets", ["route_id"])
    op.create_index("ix_route_targets_provider_id", "route_targets", ["provider_id"])
    op.create_table(
        "owned_objects",
        sa.Column("id", sa.String(length=200), primary_key=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_owned_objects_member_id", "owned_objects", ["member_id"])
    op.create_index("ix_owned_objects_team_id", "owned_objects", ["team_id"])


def downgrade() -> None:
    op.drop_table("owned_objects")
    op.drop_table("route_targets")
    op.drop_table("routes")
    with op.batch_alter_table("providers") as batch:
        batch.drop_column("settings")
        batch.drop_column("deployment_type")
        batch.drop_column("geography")
        batch.drop_column("region")
