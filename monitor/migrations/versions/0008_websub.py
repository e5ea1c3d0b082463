"""WebSub subscriptions, and the lease that slows a pushed feed's polling

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:15:00.000000

Adds ``websub_subscriptions`` (one per feed that names a hub: its hub, topic, callback token,
secret, state and lease) and ``feeds.websub_until`` (the end of a verified lease; NULL for
every feed already there, so they poll as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("websub_until", monitor.models.UTCDateTime(), nullable=True))
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("hub_url", sa.Text(), nullable=False),
        sa.Column("topic_url", sa.Text(), nullable=False),
        sa.Column("callback_token", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("lease_expires_at", monitor.models.UTCDateTime(), nullable=True),
        sa.Column("next_request_at", monitor.models.UTCDateTime(), nullable=True),
        sa.Column("requested_at", monitor.models.UTCDateTime(), nullable=True),
        sa.Column("verified_at", monitor.models.UTCDateTime(), nullable=True),
        sa.Column("last_push_at", monitor.models.UTCDateTime(), nullable=True),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("rejected_pushes", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", monitor.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_websub_subscriptions_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_subscriptions")),
        sa.UniqueConstraint("callback_token", name=op.f("uq_websub_subscriptions_callback_token")),
        sa.UniqueConstraint("feed_id", name=op.f("uq_websub_subscriptions_feed_id")),
    )
    op.create_index("ix_websub_due", "websub_subscriptions", ["next_request_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_websub_due", table_name="websub_subscriptions")
    op.drop_table("websub_subscriptions")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("websub_until")
