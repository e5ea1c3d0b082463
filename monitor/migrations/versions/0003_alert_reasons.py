"""why a hit was not alerted, its score, and the first-poll backlog

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:30:00.000000

Adds ``hits.not_alerted`` (a NotAlerted, NULL when alerted) and ``hits.score`` with its sort
index, ``articles.first_poll`` (stored by its feed's first successful poll) and
``feeds.alert_first_poll`` (feeds.yaml's opt-in). The booleans and the score carry server
defaults, so the rows already there read as before: alerted, score 0, no backlog.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alert_first_poll", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_poll", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("not_alerted", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_hits_score", ["score", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_index("ix_hits_score")
        batch_op.drop_column("not_alerted")
        batch_op.drop_column("score")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("first_poll")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("alert_first_poll")
