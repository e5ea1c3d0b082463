"""sources beyond RSS: each feed's type and options, and an article's source country

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:10:00.000000

Adds ``feeds.kind`` (``feed``, ``html``, ``sitemap`` or ``gdelt``; the rows already there are
feeds, through the server default), ``feeds.source`` (the type's options from feeds.yaml: CSS
selectors, a GDELT query) and ``articles.source_country`` (the country GDELT gives a story's
outlet).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), server_default="feed", nullable=False)
        )
        batch_op.add_column(sa.Column("source", sa.JSON(), nullable=True))
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_country", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("source_country")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("source")
        batch_op.drop_column("kind")
