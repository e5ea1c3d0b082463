"""What a message says about itself: an email's footer (why you got it, the watchlist and
its query, a link), and an escalation that gives one source count, through the outbox to a
real SMTP server and the Slack stand-in."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.send import deliver
from monitor.alerts.sweep import open_due_digests
from monitor.config import Settings
from monitor.models import Delivery, Hit, Watchlist
from tests.alerts.conftest import NOW, World, alerts
from tests.alerts.test_digest import at
from tests.alerts.test_email import parts
from tests.support.slack_standin import SlackStandIn
from tests.support.smtp import SMTPServer

PUBLIC = "https://monitor.example.org"
QUERY = 'flood AND (Lagos OR "Ogun river")'


def _mail_settings(settings: Settings, smtp: SMTPServer, public_url: str | None) -> Settings:
    return settings.model_copy(update={"smtp_url": SecretStr(smtp.url), "public_url": public_url})


def _with_query(session: Session, watchlist_id: str, query: str) -> None:
    session.get_one(Watchlist, watchlist_id).query = query
    session.flush()


def test_it_ends_each_email_with_why_it_came_the_watchlist_its_query_and_a_link(
    session: Session, settings: Settings, world: World, smtp: SMTPServer
) -> None:
    settings = _mail_settings(settings, smtp, PUBLIC)
    spec = world.watchlist("floods", "Floods in Nigeria", alerts=alerts("email:desk@example.org"))
    _with_query(session, "floods", QUERY)
    [delivery] = world.hit(spec, settings=settings, now=NOW)
    session.commit()
    assert deliver(session, delivery, settings=settings, now=NOW).sent
    hit_id = session.scalars(select(Hit.id)).one()

    plain, html = parts(smtp.messages[0])
    footer = plain[plain.index("\n-- \n") :]
    assert 'You got this because the watchlist "Floods in Nigeria" matched an article.' in footer
    assert "Watchlist: Floods in Nigeria (floods)" in footer
    assert f"Query: {QUERY}" in footer
    assert f"This hit on the dashboard: {PUBLIC}/hits/{hit_id}" in footer
    # The HTML part says the same, escaped.
    assert "You got this because the watchlist “Floods in Nigeria” matched" in html
    assert "Query: flood AND (Lagos OR &#34;Ogun river&#34;)" in html
    assert f'<a href="{PUBLIC}/hits/{hit_id}">This hit on the dashboard</a>' in html


def test_it_keeps_the_footer_without_a_link_when_no_public_url_is_set(
    session: Session, settings: Settings, world: World, smtp: SMTPServer
) -> None:
    settings = _mail_settings(settings, smtp, None)
    spec = world.watchlist("floods", "Floods in Nigeria", alerts=alerts("email:desk@example.org"))
    _with_query(session, "floods", QUERY)
    [delivery] = world.hit(spec, settings=settings, now=NOW)
    session.commit()
    assert deliver(session, delivery, settings=settings, now=NOW).sent

    plain, _ = parts(smtp.messages[0])
    footer = plain[plain.index("\n-- \n") :]
    assert "Watchlist: Floods in Nigeria (floods)" in footer and f"Query: {QUERY}" in footer
    assert "dashboard" not in footer


def test_it_names_every_watchlist_of_a_digest_in_its_footer(
    session: Session, settings: Settings, world: World, smtp: SMTPServer
) -> None:
    settings = _mail_settings(settings, smtp, PUBLIC)
    desk = alerts("email:desk@example.org", digest="hourly")
    floods = world.watchlist("floods", "Floods", alerts=desk)
    fires = world.watchlist("fires", "Bush fires", alerts=desk)
    _with_query(session, "floods", QUERY)
    _with_query(session, "fires", "fire* NOT drill")
    world.hit(floods, "Flood one", settings=settings, now=NOW)
    world.hit(fires, "Fire one", settings=settings, now=NOW + timedelta(minutes=1))
    world.hit(floods, "Flood two", settings=settings, now=NOW + timedelta(minutes=2))
    session.commit()
    [digest] = open_due_digests(session, now=at("2026-03-02 10:00"))
    session.commit()
    assert deliver(session, digest, settings=settings, now=at("2026-03-02 10:00")).sent

    plain, _ = parts(smtp.messages[0])
    footer = plain[plain.index("\n-- \n") :]
    assert "You got this because these watchlists matched articles:" in footer
    assert f"- Floods (floods): {QUERY}" in footer
    assert "- Bush fires (fires): fire* NOT drill" in footer
    assert footer.count("\n- ") == 2  # one line each, the watchlist with two hits once


def test_it_gives_one_source_count_in_an_escalations_heading_and_item(
    session: Session, settings: Settings, world: World, slack: SlackStandIn, smtp: SMTPServer
) -> None:
    settings = settings.model_copy(
        update={
            "slack_base_url": slack.base_url,
            "slack_bot_token": SecretStr(slack.token),
            "smtp_url": SecretStr(smtp.url),
        }
    )
    spec = world.watchlist(
        "floods", alerts=alerts("slack:#desk", "email:desk@example.org"), escalate_at=2
    )
    story = world.story()
    for n, source in enumerate(("Wire A", "Wire B", "Wire C")):
        article = world.article(f"Flood report {n}", story_id=story, feed=world.feed_named(source))
        world.hit(spec, article, settings=settings, now=NOW + timedelta(minutes=n))
    session.commit()
    # The escalation was made at two sources; a third came before it was sent.
    escalations = session.scalars(
        select(Delivery.id).where(Delivery.kind == "escalation").order_by(Delivery.id)
    ).all()
    assert session.scalars(select(Hit.source_count)).one() == 3
    for delivery_id in escalations:
        assert deliver(session, delivery_id, settings=settings, now=NOW + timedelta(hours=1)).sent

    post = next(p for p in slack.posts if p.text.startswith("Now reported by"))
    assert post.text.startswith("Now reported by 3 sources:")
    assert "3 sources" in post.all_text() and "2 sources" not in post.all_text()
    mail = smtp.messages[-1]
    assert mail["Subject"].startswith("[monitor] Now reported by 3 sources:")
    plain, _ = parts(mail)
    assert "3 sources" in plain and "2 sources" not in plain
