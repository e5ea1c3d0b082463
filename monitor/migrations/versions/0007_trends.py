"""trends: spike state per watchlist, silent feeds, polls per hour by outcome

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:00:00.000000

Adds tables of their own, so nothing already stored changes: ``spike_states`` (one row
per watchlist, whether its volume is in a spike), ``feed_silences`` (one row per feed, whether
it has stopped publishing) and ``poll_counts`` (polls per clock hour and outcome, for the
overview page's feed-health chart), and ``hour_counts`` with its ``rollup_marks`` (stories
and articles per watchlist and hour, rolled up once the hour is over).
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
        "spike_states",
        sa.Column("watchlist_id", sa.String(length=100), nullable=False),
        sa.Column("spiking_since", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_spike_states_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watchlist_id", name=op.f("pk_spike_states")),
    )
    op.create_table(
        "feed_silences",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("silent_since", sa.DateTime(), nullable=True),
        sa.Column("usual_gap_seconds", sa.Float(), nullable=True),
        sa.Column("last_item_at", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_feed_silences_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_id", name=op.f("pk_feed_silences")),
    )
    op.create_table(
        "poll_counts",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "outcome", name=op.f("pk_poll_counts")),
    )

    op.create_table(
        "hour_counts",
        sa.Column("series", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "key", "hour", name=op.f("pk_hour_counts")),
    )
    with op.batch_alter_table("hour_counts", schema=None) as batch_op:
        batch_op.create_index("ix_hour_counts_hour", ["hour"], unique=False)
    op.create_table(
        "rollup_marks",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_marks")),
    )


def downgrade() -> None:
    op.drop_table("rollup_marks")
    with op.batch_alter_table("hour_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_hour_counts_hour")
    op.drop_table("hour_counts")
    op.drop_table("poll_counts")
    op.drop_table("feed_silences")
    op.drop_table("spike_states")
