"""The "why did I get this?" explanation of one notification from stored facts, and its REST endpoint."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.delivery.planner import deliveries_plan_pending
from notifications.explain import notification_explain
from notifications.models import Category, Notification
from notifications.services import notification_mark_read
from preferences.models import Preference, UserSettings
from preferences.services import preference_set
from tests.factories import send
from tests.notifications.api.conftest import client_for

pytestmark = pytest.mark.django_db


def _row(result) -> Notification:
    return Notification.objects.select_related("content", "category").get(content=result.content)


def _explain(user, result) -> dict:
    return notification_explain(user=user, notification=_row(result))


def test_channels_say_whether_the_users_own_setting_or_the_category_default_let_it_through(alice):
    # given alice turned push off for comments and left email at the default
    preference_set(user=alice, category="comment", channel="push", enabled=False)

    # when a comment reaches her and is planned
    result = send([alice], category="comment", producer="shop")
    why = _explain(alice, result)

    # then the explanation names each channel's source, the sender, and the email held for the escalation delay
    assert why["channels"] == {
        "in_app": {"enabled": True, "source": "category_default"},
        "email": {"enabled": True, "source": "category_default"},
        "push": {"enabled": False, "source": "your_setting"},
    }
    assert why["sender"] == {"producer": "shop", "actor": None}
    assert why["category"] == {"slug": "comment", "label": "Comments", "mandatory": False, "private": False}
    assert why["planning"] == "done"
    assert [(d["channel"], d["status"], d["held_by"]) for d in why["deliveries"]] == [
        ("email", "pending", "escalation")
    ]


def test_a_mandatory_category_says_so_even_where_the_user_chose_off(alice):
    # given a stored opt-out of security email (written before the category became mandatory, say)
    security = Category.objects.get(slug="security")
    Preference.objects.create(user=alice, category=security, channel="email", enabled=False)

    # when a security alert reaches her
    why = _explain(alice, send([alice], category="security"))

    # then in-app and email are on because the category is mandatory; push follows her (default) setting
    assert why["channels"]["email"] == {"enabled": True, "source": "mandatory"}
    assert why["channels"]["in_app"] == {"enabled": True, "source": "mandatory"}
    assert why["channels"]["push"] == {"enabled": True, "source": "category_default"}
    assert why["category"]["private"] is True
    assert [(d["channel"], d["held_by"]) for d in why["deliveries"]] == [("email", None)]  # urgent: at once


def test_quiet_hours_and_digest_are_named_as_what_held_a_delivery_back(alice, bob):
    # given alice is inside her quiet hours right now, and bob takes a daily digest
    _quiet_now(alice)
    UserSettings.objects.create(user=bob, email_digest="daily")

    # when a high-priority mention reaches alice (push at once but for quiet hours) and a comment reaches bob
    mention = _explain(alice, send([alice], category="mention", priority="high"))
    comment = _explain(bob, send([bob], category="comment"))

    # then alice's email is held by quiet hours, bob's by his digest
    assert [(d["channel"], d["held_by"]) for d in mention["deliveries"]] == [("email", "quiet_hours")]
    assert [(d["channel"], d["held_by"]) for d in comment["deliveries"]] == [("email", "digest")]


def test_before_planning_it_says_pending_and_after_a_read_the_skip_reason(alice):
    # given a send whose planning has not run yet
    result = send([alice], category="comment", plan=False)

    # then planning is pending and nothing is planned
    pending = _explain(alice, result)
    assert (pending["planning"], pending["deliveries"]) == ("pending", [])

    # when planning runs and alice reads it before the email was due
    deliveries_plan_pending()
    notification_mark_read(user=alice, ids=[result.notification_ids[0]])

    # then the email is skipped because it was read
    after = _explain(alice, result)
    assert after["planning"] == "done"
    assert [(d["channel"], d["status"], d["skip_reason"]) for d in after["deliveries"]] == [
        ("email", "skipped", "read")
    ]


def test_the_endpoint_explains_only_the_users_own_notifications(alice, bob):
    # given a notification of alice's
    result = send([alice], category="comment", producer="shop")
    url = f"/api/v1/notifications/{result.notification_ids[0]}/why/"

    # when alice, bob and nobody ask
    mine = client_for(alice).get(url)
    theirs = client_for(bob).get(url)
    anonymous = client_for(None).get(url)
    bad_id = client_for(alice).get("/api/v1/notifications/not-a-uuid/why/")

    # then alice gets her explanation; bob and a bad id get 404 and learn nothing; nobody is asked to log in
    assert mine.status_code == 200
    assert mine.json()["id"] == str(result.notification_ids[0])
    assert mine.json()["sender"]["producer"] == "shop"
    assert (theirs.status_code, bad_id.status_code) == (404, 404)
    assert "shop" not in theirs.content.decode()
    assert anonymous.status_code == 401


def _quiet_now(user) -> UserSettings:
    """Quiet hours around the present moment, in UTC (across midnight when the present is near it)."""
    now = timezone.now()
    return UserSettings.objects.create(
        user=user,
        quiet_hours_enabled=True,
        quiet_start=(now - timedelta(hours=1)).time().replace(microsecond=0),
        quiet_end=(now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
        timezone="UTC",
    )


def test_quiet_hours_that_ended_since_read_as_deferred(alice):
    # given alice's email was held by quiet hours, which she has switched off since
    settings = _quiet_now(alice)
    result = send([alice], category="mention", priority="high")
    settings.quiet_hours_enabled = False
    settings.save(update_fields=["quiet_hours_enabled"])

    # then the due time is still explained, as deferred by settings that changed
    assert [(d["channel"], d["held_by"]) for d in _explain(alice, result)["deliveries"]] == [("email", "deferred")]


def test_the_page_says_why_in_words_and_only_to_the_recipient(client, alice, bob):
    # given a comment to alice with its email waiting for the escalation delay, and push off by her choice
    preference_set(user=alice, category="comment", channel="push", enabled=False)
    result = send([alice], category="comment", producer="shop", title="Bob replied")
    url = f"/notifications/{result.notification_ids[0]}/why/"

    # when alice opens the page, and the fragment the center loads
    client.force_login(alice)
    page = client.get(url).content.decode()
    fragment = client.get(url + "?fragment=1").content.decode()

    # then both say it in words; the fragment is only the explanation
    for text in (page, fragment):
        assert "<strong>Comments</strong> notifications reach you here, sent by <strong>shop</strong>" in text
        assert "Push: off (your setting)" in text
        assert "Email: on (the category&#x27;s default)" in text
        assert "Email: waits in case you read it first, until" in text
        assert 'href="/preferences/#category-comment"' in text
    assert "Why did I get “Bob replied”?" in page
    assert "<html" in page and "<html" not in fragment

    # and bob gets a 404 that says nothing of it; nobody logged in is sent to the login page
    client.force_login(bob)
    denied = client.get(url)
    assert denied.status_code == 404 and "shop" not in denied.content.decode()
    client.logout()
    assert client.get(url).status_code == 302
