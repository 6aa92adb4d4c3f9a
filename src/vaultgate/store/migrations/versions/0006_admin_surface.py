"""An admin surface with no gaps: display names, and each key's last use read from the usage records.

- ``members.display_name``: how the console greets a member (personal data: an erasure clears it).
- ``ix_usage_events_key_id_at``: ``key list`` shows each key's last use as ``max(at)`` per key over
  the usage records the batched writer already keeps (nothing new is written per request); with this
  index that is one index lookup per listed key.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=200), nullable=True))
    op.create_index("ix_usage_events_key_id_at", "usage_events", ["key_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_usage_events_key_id_at", table_name="usage_events")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("display_name")
