"""labels, muted stories, snoozes and the actions behind them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:00:00.000000

Adds ``hits.label``, ``labelled_by`` and ``labelled_at`` (NULL: nobody said), the
``hit_actions`` log (one row per click, unique idempotency ``key``), ``story_mutes`` and
``snoozes``. Nothing already stored changes meaning: no hit is labelled, muted or snoozed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Stamp = monitor.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("labelled_by", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("labelled_at", Stamp(), nullable=True))
        batch_op.create_index(
            "ix_hits_watchlist_label", ["watchlist_id", "label", "created_at"], unique=False
        )
    op.create_table(
        "hit_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("who", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("destination", sa.String(length=300), nullable=True),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("created_at", Stamp(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("undone_at", Stamp(), nullable=True),
        sa.Column("undone_by", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["hit_id"], ["hits.id"], name=op.f("fk_hit_actions_hit_id_hits"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hit_actions")),
        sa.UniqueConstraint("key", name=op.f("uq_hit_actions_key")),
    )
    op.create_index(op.f("ix_hit_actions_hit_id"), "hit_actions", ["hit_id"], unique=False)
    op.create_table(
        "story_mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("muted_by", sa.Text(), nullable=False),
        sa.Column("muted_at", Stamp(), nullable=False),
        sa.Column("lifted_at", Stamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["hit_id"], ["hits.id"], name=op.f("fk_story_mutes_hit_id_hits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_mutes_story_id_stories"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_story_mutes_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_mutes")),
        sa.UniqueConstraint("watchlist_id", "scope", name="uq_story_mutes_watchlist_scope"),
    )
    op.create_index(op.f("ix_story_mutes_hit_id"), "story_mutes", ["hit_id"], unique=False)
    op.create_table(
        "snoozes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.String(length=100), nullable=False),
        sa.Column("destination", sa.String(length=300), nullable=False),
        sa.Column("starts_at", Stamp(), nullable=False),
        sa.Column("until", Stamp(), nullable=False),
        sa.Column("snoozed_by", sa.Text(), nullable=False),
        sa.Column("ended_at", Stamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_snoozes_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snoozes")),
    )
    op.create_index(
        "ix_snoozes_watchlist_until", "snoozes", ["watchlist_id", "until"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_snoozes_watchlist_until", table_name="snoozes")
    op.drop_table("snoozes")
    op.drop_index(op.f("ix_story_mutes_hit_id"), table_name="story_mutes")
    op.drop_table("story_mutes")
    op.drop_index(op.f("ix_hit_actions_hit_id"), table_name="hit_actions")
    op.drop_table("hit_actions")
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_index("ix_hits_watchlist_label")
        batch_op.drop_column("labelled_at")
        batch_op.drop_column("labelled_by")
        batch_op.drop_column("label")
