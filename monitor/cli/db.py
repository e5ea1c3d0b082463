"""``monitor db``: schema migrations."""

from __future__ import annotations

import click

from monitor import db as storage
from monitor.cli.context import pass_settings
from monitor.config import Settings
from monitor.redaction import redact_url


@click.group()
def db() -> None:
    """Create or upgrade the database schema."""


@db.command()
@pass_settings
def upgrade(settings: Settings) -> None:
    """Apply every pending migration (monitor run does this by itself)."""
    storage.upgrade(settings)
    revision = storage.current_revision(settings)
    click.echo(f"database {redact_url(settings.database_url)} is at revision {revision}")


@db.command()
@pass_settings
def current(settings: Settings) -> None:
    """Print the schema revision the database is at."""
    revision = storage.current_revision(settings)
    click.echo(revision or "empty (run: monitor db upgrade)")


commands = [db]
