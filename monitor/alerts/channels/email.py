"""Email over SMTP with the standard library's smtplib.

``MONITOR_SMTP_URL`` is ``smtp://user:pass@host:587`` (STARTTLS whenever the server offers it,
and required when a password is to be sent) or ``smtps://user:pass@host:465`` (TLS from the
first byte). Certificates are verified against the system's trust store (``SSL_CERT_FILE``
points elsewhere). The password never appears in an error: only the host and port do.

SMTP answers: 4xx is temporary (retry), 5xx is permanent. A 5xx for a recipient or for our
credentials flags the destination; a 5xx for the message's content fails that message only.
The Message-ID is derived from the delivery id, so if a retry ever sends a message the server
had already accepted, the copy carries the same Message-ID and mail clients can fold the two.

With ``MONITOR_PUBLIC_URL`` set, each hit carries signed action links (relevant, not relevant,
mute story, snooze) to the dashboard's confirmation page (:mod:`monitor.triage.links`), made
when the message is built, so they expire seven days after it was sent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import replace
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from monitor.alerts.formatting import email_bodies, email_subject
from monitor.alerts.message import DeliveryError, Message, SendResult
from monitor.config import Settings
from monitor.destinations import AlertSpec
from monitor.errors import ConfigError
from monitor.logs import get_logger
from monitor.models import utcnow
from monitor.serverkey import server_key
from monitor.triage.links import action_links

__all__ = ["build_email", "send"]

TIMEOUT = 30

log = get_logger(__name__)


def build_email(message: Message, recipients: list[str], *, settings: Settings) -> EmailMessage:
    """The multipart message, headers set through the email package (which refuses CR/LF)."""
    sender = settings.email_from
    domain = sender.rpartition("@")[2].strip("> ") or "localhost"
    mail = EmailMessage()
    mail["Subject"] = email_subject(message)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(utcnow())
    if message.delivery_id is not None:
        mail["Message-ID"] = f"<monitor.delivery.{message.delivery_id}@{domain}>"
    else:
        mail["Message-ID"] = make_msgid(idstring="monitor.test", domain=domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    plain, html = email_bodies(_with_actions(message, settings))
    mail.set_content(plain)
    mail.add_alternative(html, subtype="html")
    return mail


def _with_actions(message: Message, settings: Settings) -> Message:
    """*message* with each stored hit's action links, when the dashboard has a public URL (a
    test message has no hit to act on)."""
    if not settings.public_url or message.delivery_id is None:
        return message
    try:
        key = server_key(settings)
    except ConfigError as exc:
        # The alert matters more than its buttons: it goes out, with the reason in the log.
        log.warning("email sent without action links", error=str(exc))
        return message
    now = utcnow()
    items = tuple(
        replace(
            item,
            actions=action_links(
                settings.public_url,
                key,
                hit_id=item.hit_id,
                delivery_id=message.delivery_id,
                now=now,
            ),
        )
        if item.hit_id is not None
        else item
        for item in message.items
    )
    return replace(message, items=items)


def send(message: Message, destination: AlertSpec, *, settings: Settings) -> SendResult:
    if settings.smtp_url is None:
        raise DeliveryError("MONITOR_SMTP_URL is not set", permanent=True, destination_broken=True)
    recipients = list(destination.email or [])
    url = urlsplit(settings.smtp_url.get_secret_value())
    scheme = url.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise DeliveryError(
            "MONITOR_SMTP_URL must start with smtp:// or smtps://",
            permanent=True,
            destination_broken=True,
        )
    host = url.hostname or "localhost"
    try:
        port = url.port or (465 if scheme == "smtps" else 587)
    except ValueError:
        raise DeliveryError("MONITOR_SMTP_URL has a bad port", permanent=True) from None
    where = f"{host}:{port}"
    mail = build_email(message, recipients, settings=settings)
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if scheme == "smtps":
            client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT)
        with client:
            client.ehlo()
            if scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            if url.username:
                if scheme == "smtp" and not isinstance(client.sock, ssl.SSLSocket):
                    raise DeliveryError(
                        f"SMTP server {where} does not offer STARTTLS; refusing to send the "
                        "password in clear",
                        permanent=True,
                        destination_broken=True,
                    )
                client.login(unquote(url.username), unquote(url.password or ""))
            refused = client.send_message(
                mail, from_addr=_bare(settings.email_from), to_addrs=recipients
            )
    except DeliveryError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refused(exc.recipients, where) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"SMTP {where} refused the credentials ({exc.smtp_code})",
            permanent=exc.smtp_code >= 500,
            destination_broken=exc.smtp_code >= 500,
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryError(
            f"SMTP {where} refused the sender {settings.email_from}: {exc.smtp_code} "
            f"{_text(exc.smtp_error)}",
            permanent=exc.smtp_code >= 500,
            destination_broken=exc.smtp_code >= 500,
        ) from None
    except smtplib.SMTPResponseException as exc:
        # A DATA refusal or another command's answer: about this message, not the address.
        raise DeliveryError(
            f"SMTP {where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=exc.smtp_code >= 500,
            destination_broken=False,
        ) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        permanent = isinstance(exc, ssl.SSLCertVerificationError)
        raise DeliveryError(
            f"SMTP {where} unreachable: {type(exc).__name__}",
            permanent=permanent,
            destination_broken=permanent,
        ) from None
    if refused:
        # Some recipients took it, so the message counts as sent (retrying would send the
        # others a second copy); the refused ones are reported in the log.
        log.warning("some recipients refused", refused=sorted(refused))
    return SendResult(provider_message_id=str(mail["Message-ID"]))


def _refused(recipients: dict[str, tuple[int, bytes]], where: str) -> DeliveryError:
    codes = [code for code, _ in recipients.values()]
    detail = "; ".join(f"{addr}: {code} {_text(text)}" for addr, (code, text) in recipients.items())
    permanent = all(code >= 500 for code in codes)
    return DeliveryError(
        f"SMTP {where} refused every recipient: {detail}",
        permanent=permanent,
        destination_broken=permanent,
    )


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:200]


def _bare(sender: str) -> str:
    return parseaddr(sender)[1] or sender
