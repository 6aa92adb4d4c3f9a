"""Identity: SCIM users and groups, group mappings to teams and roles, OIDC sign-ins, SCIM tokens.

- ``identity_users``: a member as the identity provider knows them (SCIM id, externalId, the
  provider's ``active``, whether SCIM manages the member, the OIDC issuer and subject).
- ``identity_groups`` and ``identity_group_members``: SCIM groups and their members.
- ``identity_group_mappings``: a provider group and the team and role its members get.
- ``identity_logins``: console sign-ins under way (state by keyed hash, nonce, PKCE verifier; used once).
- ``scim_tokens``: ``vgs_`` bearer tokens that may only provision (keyed hash only).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_users",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False, unique=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("scim_managed", sa.Boolean(), nullable=False),
        sa.Column("oidc_issuer", sa.String(500), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_identity_users_oidc", "identity_users", ["oidc_issuer", "oidc_subject"], unique=True)
    op.create_table(
        "identity_groups",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False, unique=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "identity_group_members",
        sa.Column("group_id", sa.String(40), sa.ForeignKey("identity_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_identity_group_members_user_id", "identity_group_members", ["user_id"])
    op.create_table(
        "identity_group_mappings",
        sa.Column("group_name", sa.String(200), primary_key=True),
        sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id"), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "identity_logins",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_identity_logins_created_at", "identity_logins", ["created_at"])
    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("display", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("scim_tokens")
    op.drop_index("ix_identity_logins_created_at", table_name="identity_logins")
    op.drop_table("identity_logins")
    op.drop_table("identity_group_mappings")
    op.drop_index("ix_identity_group_members_user_id", table_name="identity_group_members")
    op.drop_table("identity_group_members")
    op.drop_table("identity_groups")
    op.drop_index("ix_identity_users_oidc", table_name="identity_users")
    op.drop_table("identity_users")
