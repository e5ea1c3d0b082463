"""Email alerts' signed action links (issue 17): a real SMTP server receives the alert, the
test follows its link; a GET only shows, a POST acts once; expired and tampered links act
not at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alerts.send import deliver
from monitor.config import Settings
from monitor.dashboard.app import create_app
from monitor.models import Hit, HitAction, utcnow
from monitor.serverkey import server_key
from monitor.triage import Action
from monitor.triage.links import action_token
from tests.alerts.conftest import World, alerts
from tests.alerts.test_email import parts
from tests.support.smtp import SMTPServer
from tests.triage.test_dashboard import form_values

DASHBOARD = "http://testserver"


@pytest.fixture
def mail_settings(settings: Settings, smtp: SMTPServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": SecretStr(smtp.url),
            "email_from": "Monitor <monitor@example.org>",
            "public_url": DASHBOARD,
            "secret_key": SecretStr("k" * 64),
        }
    )


@pytest.fixture
def emailed(
    session: Session, world: World, mail_settings: Settings, smtp: SMTPServer
) -> tuple[Hit, dict[str, str]]:
    """A hit alerted by email through the SMTP server; the links of the email received."""
    spec = world.watchlist("floods", alerts=alerts("email:ed@example.org"))
    [delivery] = world.hit(spec, settings=mail_settings, now=utcnow())
    session.commit()
    assert deliver(session, delivery, settings=mail_settings).sent
    [mail] = smtp.messages
    plain, html = parts(mail)
    links = dict(
        re.findall(r"^(Relevant|Not relevant|Mute story|Snooze 1 \w+): (\S+)$", plain, re.M)
    )
    assert set(links) == {a.label for a in Action}
    for url in links.values():
        assert url in html.replace("&amp;", "&")
    return session.scalars(select(Hit)).one(), links


@pytest.fixture
def client(mail_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(mail_settings), follow_redirects=False) as c:
        yield c


def path(url: str) -> str:
    assert url.startswith(f"{DASHBOARD}/act/")
    return url.removeprefix(DASHBOARD)


def acts(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(HitAction)) or 0)


def test_it_acts_only_when_the_reader_confirms(
    session: Session, client: TestClient, emailed: tuple[Hit, dict[str, str]]
) -> None:
    hit, links = emailed
    link = path(links["Not relevant"])

    # What a mail scanner or a link preview does: fetch the link. Nothing changes.
    shown = client.get(link)
    assert shown.status_code == 200
    assert (
        "Opening this link changed nothing" in shown.text and "Heavy flood hits Lagos" in shown.text
    )
    assert acts(session) == 0

    done = client.post(link, data={"csrf": form_values(shown.text)["csrf"]})
    assert done.status_code == 200
    assert re.search(r"Marked not relevant by ed@example.org at \d\d:\d\d UTC", done.text)
    session.refresh(hit)
    assert (hit.label, hit.labelled_by) == ("not_relevant", "ed@example.org")

    # The same link again (a second click, a replayed request): it acted once.
    again = client.post(link, data={"csrf": form_values(done.text)["csrf"]})
    assert re.search(r"Marked not relevant by ed@example.org", again.text)
    assert acts(session) == 1

    undone = client.post(f"{link}/undo", data={"csrf": form_values(again.text)["csrf"]})
    assert "Undone by ed@example.org" in undone.text
    session.refresh(hit)
    assert hit.label is None


def test_it_snoozes_the_destination_the_email_went_to(
    session: Session, client: TestClient, emailed: tuple[Hit, dict[str, str]]
) -> None:
    _, links = emailed
    link = path(links["Snooze 1 day"])
    done = client.post(link, data={"csrf": form_values(client.get(link).text)["csrf"]})
    assert "Snoozed at email:ed@example.org for 1 day by ed@example.org" in done.text


def tampered(url: str) -> Iterator[str]:
    token = url.rsplit("/", 1)[1]
    hit, action, delivery, expires, signature = token.split(".")
    yield ".".join(
        (hit, "relevant" if action != "relevant" else "mute_story", delivery, expires, signature)
    )
    yield ".".join((str(int(hit) + 1), action, delivery, expires, signature))
    yield ".".join((hit, action, delivery, str(int(expires) + 86400 * 30), signature))
    yield ".".join(
        (
            hit,
            action,
            delivery,
            expires,
            signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"),
        )
    )
    yield ".".join((hit, action, delivery, expires))


def test_it_refuses_a_tampered_link(
    session: Session, client: TestClient, emailed: tuple[Hit, dict[str, str]]
) -> None:
    _, links = emailed
    token = client.get(path(links["Relevant"]))
    csrf = form_values(token.text)["csrf"]
    for changed in tampered(links["Not relevant"]):
        shown = client.get(f"/act/{changed}")
        assert shown.status_code == 403, changed
        assert client.post(f"/act/{changed}", data={"csrf": csrf}).status_code == 403
    assert acts(session) == 0


def test_it_refuses_a_link_past_seven_days(
    session: Session,
    client: TestClient,
    emailed: tuple[Hit, dict[str, str]],
    mail_settings: Settings,
) -> None:
    hit, _ = emailed
    old = action_token(
        server_key(mail_settings),
        hit_id=hit.id,
        action=Action.RELEVANT,
        delivery_id=None,
        now=utcnow() - timedelta(days=7, seconds=1),
    )
    shown = client.get(f"/act/{old}")
    assert shown.status_code == 410 and "this link expired on" in shown.text
    csrf = client.cookies.get("monitor_csrf")
    assert client.post(f"/act/{old}", data={"csrf": csrf}).status_code == 410
    assert acts(session) == 0


def test_a_link_needs_no_sign_in_and_opens_nothing_else(
    session: Session, mail_settings: Settings, emailed: tuple[Hit, dict[str, str]]
) -> None:
    _, links = emailed
    guarded = mail_settings.model_copy(update={"dashboard_users": SecretStr("ada:lovelace")})
    with TestClient(create_app(guarded), follow_redirects=False) as client:
        assert client.get("/").status_code == 401
        assert client.get("/act/garbage").status_code == 403
        link = path(links["Mute story"])
        shown = client.get(link)
        assert shown.status_code == 200
        done = client.post(link, data={"csrf": form_values(shown.text)["csrf"]})
        assert "Story muted by ed@example.org" in done.text


def test_it_refuses_a_link_posted_from_another_origin(
    session: Session, client: TestClient, emailed: tuple[Hit, dict[str, str]]
) -> None:
    _, links = emailed
    link = path(links["Relevant"])
    csrf = form_values(client.get(link).text)["csrf"]
    answer = client.post(link, data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403 and "cross-origin" in answer.text
    assert client.post(link, data={"csrf": "forged.token"}).status_code == 403
    assert acts(session) == 0


def test_it_shows_a_hostile_headline_as_text_on_the_confirmation_page(
    session: Session, world: World, mail_settings: Settings, client: TestClient
) -> None:
    spec = world.watchlist("floods", alerts=alerts("console"))
    hostile = '<script>window.pwned=1</script><img src=x onerror="alert(1)">'
    world.hit(
        spec, world.article(hostile, published_at=utcnow()), settings=mail_settings, now=utcnow()
    )
    session.commit()
    hit = session.scalars(select(Hit)).one()
    token = action_token(
        server_key(mail_settings),
        hit_id=hit.id,
        action=Action.MUTE_STORY,
        delivery_id=None,
        now=utcnow(),
    )
    page = client.get(f"/act/{token}").text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    assert "<script>window" not in page and "<img" not in page


def test_a_snooze_summary_email_links_every_held_hit(
    session: Session, world: World, mail_settings: Settings, smtp: SMTPServer
) -> None:
    from monitor.alerts.sweep import open_due_digests
    from monitor.triage import ActionRequest, apply_action

    spec = world.watchlist("floods", "Floods", alerts=alerts("email:ed@example.org"))
    now = utcnow()
    [first] = world.hit(spec, settings=mail_settings, now=now)
    hit = session.scalars(select(Hit)).one()
    apply_action(
        session,
        ActionRequest(hit.id, Action.SNOOZE_1H, "ed", "email", destination_id=first),
        now=now,
    )
    for minutes in (1, 2):
        later = now + timedelta(minutes=minutes)
        assert world.hit(spec, f"Flood {minutes}", settings=mail_settings, now=later) == []
    session.commit()
    end = now + timedelta(hours=1, minutes=1)
    [summary] = open_due_digests(session, now=end)
    session.commit()
    assert deliver(session, summary, settings=mail_settings, now=end).sent
    [mail] = smtp.messages
    plain, _ = parts(mail)
    assert mail["Subject"].startswith("[monitor] 2 hits while Floods was snoozed")
    held = session.scalars(select(Hit.id).where(Hit.id != hit.id)).all()
    for hit_id in held:
        assert f"Details: {DASHBOARD}/hits/{hit_id}" in plain
