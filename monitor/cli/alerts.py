"""``monitor alerts``: see recent and failed deliveries, queue failed ones again, test a
destination."""

from __future__ import annotations

import click
from pydantic import ValidationError
from sqlalchemy import select

from monitor import db as storage
from monitor.alerts.message import DeliveryError
from monitor.alerts.send import deliver, send_test
from monitor.alerts.sweep import retry_deliveries
from monitor.cli.context import pass_settings
from monitor.config import Settings
from monitor.errors import UserError
from monitor.models import Delivery, Destination, utcnow
from monitor.states import DeliveryStatus

__all__ = ["alerts", "commands"]


@click.group()
def alerts() -> None:
    """Alert deliveries: list, retry, test a destination."""


@alerts.command("list")
@click.option("--failed", is_flag=True, help="Only failed deliveries.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@pass_settings
def list_(settings: Settings, failed: bool, limit: int) -> None:
    """Recent deliveries, newest first, and destinations flagged as broken."""
    with storage.session_scope(settings) as session:
        query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc())
        if failed:
            query = query.where(Delivery.status == DeliveryStatus.FAILED)
        rows = session.scalars(query.limit(limit)).all()
        if not rows:
            click.echo("no failed deliveries" if failed else "no deliveries yet")
        for row in rows:
            when = (row.sent_at or row.created_at).strftime("%Y-%m-%d %H:%M")
            line = (
                f"{row.id:>6}  {when}  {row.kind:<10} {row.status:<9} "
                f"{row.attempts:>2}x  {row.destination}"
            )
            if row.status in (DeliveryStatus.RETRYING, DeliveryStatus.FAILED) and row.last_error:
                line += f"  ({row.last_error})"
            if row.status == DeliveryStatus.SCHEDULED and row.due_at:
                line += f"  (due {row.due_at:%Y-%m-%d %H:%M} UTC)"
            click.echo(line)
        flagged = session.scalars(
            select(Destination).where(Destination.failed_at.is_not(None))
        ).all()
        for destination in flagged:
            click.echo(
                f"broken destination {destination.key}: {destination.last_error} "
                f"(since {destination.failed_at:%Y-%m-%d %H:%M} UTC; "
                "fix it, then: monitor alerts retry --failed)"
            )


@alerts.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", is_flag=True, help="Every failed delivery.")
@click.option("--send", is_flag=True, help="Send them now from this process.")
@pass_settings
def retry(settings: Settings, ids: tuple[int, ...], failed: bool, send: bool) -> None:
    """Queue failed deliveries again (by ID, or all with --failed) and clear the broken flag
    of their destinations. The workers send them at their next sweep (every 15 s by
    default); --send sends them now, from this process."""
    if not ids and not failed:
        raise UserError("say which deliveries: monitor alerts retry ID ... or --failed")
    now = utcnow()
    with storage.session_scope(settings) as session:
        if ids:
            known = set(session.scalars(select(Delivery.id).where(Delivery.id.in_(ids))))
            missing = sorted(set(ids) - known)
            if missing:
                raise UserError(f"no delivery with id {', '.join(map(str, missing))}")
        queued_ids = list(
            session.scalars(
                select(Delivery.id).where(
                    Delivery.id.in_(ids) if ids else Delivery.status == DeliveryStatus.FAILED,
                    Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.RETRYING)),
                )
            )
        )
        if failed and ids:
            queued_ids += list(
                session.scalars(select(Delivery.id).where(Delivery.status == DeliveryStatus.FAILED))
            )
        count = retry_deliveries(session, list(ids) or None, failed=failed, now=now)
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} queued again")
    if send and count:
        with storage.session_scope(settings) as session:
            for delivery_id in sorted(set(queued_ids)):
                outcome = deliver(session, delivery_id, settings=settings, now=utcnow())
                click.echo(f"delivery {delivery_id}: {outcome}")


@alerts.command()
@click.argument("destination")
@pass_settings
def test(settings: Settings, destination: str) -> None:
    """Send a test message to DESTINATION (slack:#desk, webhook:ENV_VAR, email:a@x.org or
    console) and print what the provider answered."""
    try:
        result = send_test(destination, settings=settings)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise UserError(f"{destination}: {reason}") from None
    except ValueError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    except DeliveryError as exc:
        kind = "permanent" if exc.permanent else "temporary"
        raise UserError(f"test message to {destination} failed ({kind}): {exc.message}") from None
    detail = ""
    if result.provider_message_id:
        detail = f" (message id {result.provider_message_id}"
        detail += f" in {result.provider_channel})" if result.provider_channel else ")"
    click.echo(f"test message sent to {destination}{detail}")


commands = [alerts]
