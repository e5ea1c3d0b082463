"""the language detected from an article's text, and how sure the detector was

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:30:00.000000

Adds ``articles.detected_language`` and ``articles.language_confidence`` (what
:mod:`monitor.matching.language` said of the text, NULL when it was too short to tell or the
article was matched before this revision). ``articles.language`` stays the language matching
uses, now settled from the feed's declaration and the detection.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detected_language", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("language_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("language_confidence")
        batch_op.drop_column("detected_language")
