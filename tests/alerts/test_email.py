"""Email over a real SMTP server (aiosmtpd on loopback): headers, both parts, escaping,
STARTTLS and implicit TLS with AUTH, and what 4xx and 5xx answers do."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from monitor.alerts.channels import email
from monitor.alerts.message import DeliveryError
from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.destinations import parse_destination
from monitor.models import Delivery, Destination
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_formatting import instant
from tests.conftest import need
from tests.support.smtp import SMTPServer, certificate

DESK = parse_destination("email:desk@example.org,editor@example.org")


def configured(settings: Settings, smtp: SMTPServer) -> Settings:
    return settings.model_copy(
        update={"smtp_url": SecretStr(smtp.url), "email_from": "Monitor <monitor@example.org>"}
    )


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    return plain.get_content().replace("\r\n", "\n"), html.get_content()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    made = certificate(tmp_path)
    need(made is not None, "the openssl command is needed to make a test certificate")
    assert made is not None
    return made


@pytest.fixture
def trusted(cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    # The client verifies certificates against the default trust store; point it at ours.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    return cert


@pytest.fixture
def starttls(trusted: tuple[Path, Path]) -> Iterator[SMTPServer]:
    with SMTPServer(tls="starttls", cert=trusted, auth=("alerts", "pa ss/word")) as server:
        yield server


def test_it_sends_a_multipart_email_with_the_headers_a_reader_expects(
    sqlite_settings: Settings, smtp: SMTPServer
) -> None:
    result = email.send(instant(), DESK, settings=configured(sqlite_settings, smtp))
    [mail] = smtp.messages
    assert mail["Subject"] == "[monitor] Floods: Heavy flood hits Lagos"
    assert mail["From"] == "Monitor <monitor@example.org>"
    assert mail["To"] == "desk@example.org, editor@example.org"
    assert parsedate_to_datetime(mail["Date"]).tzinfo is not None
    assert mail["Message-ID"] == "<monitor.delivery.7@example.org>" == result.provider_message_id
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = parts(mail)
    assert "Heavy flood hits Lagos\nhttps://news.example/a?x=1&y=2" in plain
    assert "Heavy *flood* hits Lagos" in plain
    assert '<a href="https://news.example/a?x=1&amp;y=2">Heavy flood hits Lagos</a>' in html
    assert "Heavy <strong>flood</strong> hits Lagos" in html
    [envelope] = smtp.envelopes
    assert envelope["from"] == "monitor@example.org"
    assert envelope["to"] == ["desk@example.org", "editor@example.org"]


@pytest.mark.parametrize(
    "title",
    [
        "Flood\r\nBcc: victim@example.org",
        "Flood\nContent-Type: text/html\n\n<script>alert(1)</script>",
        "Flood\rX-Injected: yes",
    ],
    ids=["crlf-bcc", "lf-content-type", "cr-only"],
)
def test_it_never_lets_a_headline_inject_a_header(
    sqlite_settings: Settings, smtp: SMTPServer, title: str
) -> None:
    email.send(instant(title=title), DESK, settings=configured(sqlite_settings, smtp))
    [mail] = smtp.messages
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert mail.get_content_type() == "multipart/alternative"
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"]
    assert smtp.envelopes[0]["to"] == ["desk@example.org", "editor@example.org"]


def test_it_escapes_html_from_the_feed(sqlite_settings: Settings, smtp: SMTPServer) -> None:
    hostile = '<img src=x onerror="alert(1)"> & <b>flood</b>'
    email.send(
        instant(
            title=hostile,
            snippet=hostile,
            highlights=((hostile.index("flood"), hostile.index("flood") + 5),),
            url="javascript:alert(1)",
        ),
        DESK,
        settings=configured(sqlite_settings, smtp),
    )
    plain, html = parts(smtp.messages[0])
    assert "<img" not in html and "<b>" not in html and "javascript:" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;" in html
    assert "<strong>flood</strong>" in html
    assert hostile in plain  # the plain part is text: shown as it is, harmless


def test_it_uses_starttls_and_logs_in(sqlite_settings: Settings, starttls: SMTPServer) -> None:
    email.send(instant(), DESK, settings=configured(sqlite_settings, starttls))
    [envelope] = starttls.envelopes
    assert envelope["tls"] and envelope["auth"]


def test_it_speaks_tls_from_the_first_byte_with_smtps(
    sqlite_settings: Settings, trusted: tuple[Path, Path]
) -> None:
    with SMTPServer(tls="smtps", cert=trusted, auth=("alerts", "secret")) as server:
        assert server.url.startswith("smtps://")
        email.send(instant(), DESK, settings=configured(sqlite_settings, server))
        assert server.envelopes[0]["auth"]
        assert len(server.messages) == 1


def test_it_refuses_a_certificate_it_cannot_verify(
    sqlite_settings: Settings, cert: tuple[Path, Path]
) -> None:
    with (
        SMTPServer(tls="starttls", cert=cert, auth=("alerts", "secret")) as server,
        pytest.raises(DeliveryError, match="SSLCertVerificationError") as caught,
    ):
        email.send(instant(), DESK, settings=configured(sqlite_settings, server))
    assert caught.value.permanent and "secret" not in str(caught.value)


def test_it_will_not_send_a_password_without_tls(
    sqlite_settings: Settings, smtp: SMTPServer
) -> None:
    settings = sqlite_settings.model_copy(
        update={"smtp_url": SecretStr(f"smtp://alerts:hunter2@127.0.0.1:{smtp.port}")}
    )
    with pytest.raises(DeliveryError, match="STARTTLS") as caught:
        email.send(instant(), DESK, settings=settings)
    assert "hunter2" not in str(caught.value) and smtp.messages == []


def test_it_reports_wrong_credentials_without_the_password(
    sqlite_settings: Settings, starttls: SMTPServer
) -> None:
    settings = sqlite_settings.model_copy(
        update={"smtp_url": SecretStr(f"smtp://alerts:wrong-pass@127.0.0.1:{starttls.port}")}
    )
    with pytest.raises(DeliveryError, match="refused the credentials") as caught:
        email.send(instant(), DESK, settings=settings)
    assert caught.value.permanent and "wrong-pass" not in str(caught.value)


@pytest.mark.parametrize(
    ("refuse", "reply", "permanent", "broken"),
    [
        ("rcpt", "550 5.1.1 No such user here", True, True),
        ("rcpt", "450 4.2.1 Mailbox busy", False, False),
        ("data", "451 4.3.0 Please try again later", False, False),
        ("data", "554 5.6.0 Message content rejected", True, False),
    ],
    ids=["rcpt-550", "rcpt-450", "data-451", "data-554"],
)
def test_it_classifies_smtp_answers(
    sqlite_settings: Settings,
    smtp: SMTPServer,
    refuse: str,
    reply: str,
    permanent: bool,
    broken: bool,
) -> None:
    one = parse_destination("email:desk@example.org")
    if refuse == "rcpt":
        smtp.refuse_next_rcpt(reply)
    else:
        smtp.refuse_next_data(reply)
    with pytest.raises(DeliveryError) as caught:
        email.send(instant(), one, settings=configured(sqlite_settings, smtp))
    assert (caught.value.permanent, caught.value.destination_broken) == (permanent, broken)
    assert reply.split()[0] in str(caught.value)


def test_it_counts_a_message_as_sent_when_some_recipients_took_it(
    sqlite_settings: Settings, smtp: SMTPServer
) -> None:
    smtp.refuse_next_rcpt("550 5.1.1 No such user here")
    result = email.send(instant(), DESK, settings=configured(sqlite_settings, smtp))
    assert result.provider_message_id and smtp.envelopes[0]["to"] == ["editor@example.org"]


def test_it_treats_an_unreachable_server_as_transient(sqlite_settings: Settings) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = sqlite_settings.model_copy(
        update={"smtp_url": SecretStr(f"smtp://u:topsecret@127.0.0.1:{port}")}
    )
    with pytest.raises(DeliveryError, match="unreachable") as caught:
        email.send(instant(), DESK, settings=settings)
    assert not caught.value.permanent and "topsecret" not in str(caught.value)


def test_it_needs_an_smtp_url(sqlite_settings: Settings) -> None:
    with pytest.raises(DeliveryError, match="MONITOR_SMTP_URL"):
        email.send(instant(), DESK, settings=sqlite_settings)


def test_it_records_the_message_id_and_flags_a_refused_address_through_the_outbox(
    session: Session, settings: Settings, world: World, smtp: SMTPServer
) -> None:
    settings = configured(settings, smtp)
    spec = world.watchlist("floods", alerts=alerts("email:desk@example.org"))
    sent_id, refused_id = (world.hit(spec, f"Flood {n}", settings=settings)[0] for n in range(2))
    session.commit()
    sent = deliver(session, sent_id, settings=settings, now=NOW)
    assert sent.sent and sent.provider_message_id == f"<monitor.delivery.{sent_id}@example.org>"
    assert smtp.messages[0]["Subject"] == "[monitor] Floods: Flood 0"
    smtp.refuse_next_rcpt("550 5.1.1 No such user here")
    failed = deliver(session, refused_id, settings=settings, now=NOW)
    assert failed.status == "failed" and "550" in str(failed.error)
    session.expire_all()
    destination = session.get(Destination, "email:desk@example.org")
    assert destination is not None and destination.failed_at == NOW
    row = session.get(Delivery, sent_id)
    assert row is not None and row.sent_at == NOW


def test_it_retries_a_busy_server(
    session: Session, settings: Settings, world: World, smtp: SMTPServer
) -> None:
    settings = configured(settings, smtp)
    spec = world.watchlist("floods", alerts=alerts("email:desk@example.org"))
    [delivery_id] = world.hit(spec, settings=settings)
    session.commit()
    smtp.refuse_next_data("451 4.3.0 Please try again later")
    first = deliver(session, delivery_id, settings=settings, now=NOW)
    assert first.status == "retrying" and first.next_attempt_at is not None
    assert deliver(session, delivery_id, settings=settings, now=first.next_attempt_at).sent
    assert len(smtp.messages) == 1
