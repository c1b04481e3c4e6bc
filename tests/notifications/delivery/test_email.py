"""Email through a real SMTP server on loopback (aiosmtpd): parts, escaping, privacy, digest, unsubscribe."""

from datetime import timedelta
from urllib.parse import urlsplit

from django.test import Client
from django.utils import timezone

from notifications.delivery.machine import deliveries_dispatch_due
from notifications.models import Category, Delivery, DeliveryStatus
from preferences.models import Preference, UserSettings
from tests.factories import make_user, send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def _parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_email_has_both_parts_escaped_content_and_one_click_unsubscribe(smtp, alice):
    # given an urgent comment whose title and body carry markup
    result = send([alice], title="<script>alert(1)</script> & co", body="Tom & <b>Jerry</b>", priority="urgent")
    (email,) = deliveries_of(result, channel="email")
    # when a worker sends it
    assert send_now([email]) == {"sent": 1}
    # then the SMTP server got one email to alice with a text and an HTML part
    (message,) = smtp.messages
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "<script>alert(1)</script> & co"
    text, html = _parts(message)
    assert "Tom & <b>Jerry</b>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "Tom &amp; &lt;b&gt;Jerry&lt;/b&gt;" in html
    assert "<script>" not in html and "<b>Jerry" not in html
    # and RFC 8058 headers point at a signed one-click link
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(message["List-Unsubscribe"]).strip()
    assert link.startswith("<http://") and "/unsubscribe/" in link and link.endswith("/>")
    assert reload(email).status == DeliveryStatus.SENT and reload(email).sent_at is not None


def test_private_category_email_has_generic_text_only(smtp, alice):
    # given a security alert (private, mandatory) with secret content
    result = send([alice], category="security", title="New sign-in from Berlin", body="IP 203.0.113.9")
    (email,) = deliveries_of(result, channel="email")
    send_now([email])
    (message,) = smtp.messages
    raw = message.as_string()
    # then neither subject nor any part carries the content
    assert message["Subject"] == "You have a new notification"
    assert "Berlin" not in raw and "203.0.113.9" not in raw
    text, html = _parts(message)
    assert "/notifications/" in text and "/notifications/" in html
    # and a mandatory category offers no unsubscribe
    assert message["List-Unsubscribe"] is None


def test_email_content_off_sends_a_generic_email(smtp, alice):
    UserSettings.objects.create(user=alice, email_content=False)
    result = send([alice], title="Bob replied: secret plans", body="the plans", priority="urgent")
    send_now(deliveries_of(result, channel="email"))
    (message,) = smtp.messages
    assert message["Subject"] == "New notification: Comments"
    assert "secret plans" not in message.as_string() and "the plans" not in message.as_string()


def test_digest_batches_a_users_notifications_into_one_email(smtp, alice, bob, eager):
    # given alice on an hourly digest and three normal comments, bob on no digest
    UserSettings.objects.create(user=alice, email_digest="hourly")
    results = [send([alice, bob], title=f"Comment {i}") for i in range(3)]
    alice_rows = [d for r in results for d in deliveries_of(r, channel="email", notification__recipient=alice)]
    bob_rows = [d for r in results for d in deliveries_of(r, channel="email", notification__recipient=bob)]
    assert all(d.digest for d in alice_rows) and not any(d.digest for d in bob_rows)
    slot = alice_rows[0].due_at
    assert {d.due_at for d in alice_rows} == {slot} and slot.minute == 0 and slot > timezone.now()
    # and alice read one of them meanwhile
    results[1].content.notifications.filter(recipient=alice).update(read_at=timezone.now())
    # when the digest slot comes and the scan runs
    past = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk__in=[d.pk for d in alice_rows]).update(due_at=past, updated_at=past - timedelta(hours=1))
    assert deliveries_dispatch_due() == 3
    # then exactly one email went out, listing the two unread ones, newest first
    assert len(smtp.messages) == 1
    (message,) = smtp.messages
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "2 new notifications"
    text, html = _parts(message)
    assert text.index("Comment 2") < text.index("Comment 0")
    assert "Comment 1" not in text and "Comment 1" not in html
    assert [reload(d).status for d in alice_rows] == ["sent", "skipped", "sent"]
    assert reload(alice_rows[1]).skip_reason == "read"
    # and bob's escalation emails were not due yet: untouched
    assert {reload(d).status for d in bob_rows} == {"pending"}


def test_unsubscribe_link_works_without_login_and_flips_exactly_that_preference(smtp, alice):
    result = send([alice], title="Hi", priority="urgent")
    send_now(deliveries_of(result, channel="email"))
    path = urlsplit(str(smtp.messages[0]["List-Unsubscribe"]).strip().strip("<>")).path
    client = Client()  # no session
    # a GET (a link scanner) changes nothing
    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe" in page.content
    assert not Preference.objects.exists()
    # the RFC 8058 one-click POST turns off email for comments only
    response = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    comment = Category.objects.get(slug="comment")
    assert list(Preference.objects.values_list("user_id", "category_id", "channel", "enabled")) == [
        (alice.pk, comment.pk, "email", False)
    ]
    # and the next comment plans no email (push is untouched)
    assert deliveries_of(send([alice], title="Again", priority="urgent"), channel="email") == []


def test_unsubscribe_with_a_forged_token_is_rejected_and_writes_nothing(alice):
    client = Client()
    response = client.post("/unsubscribe/eyJ1IjoxLCJjIjpbMV19:forged:sig/")
    assert response.status_code == 400
    assert not Preference.objects.exists()


def test_smtp_permanent_rejection_is_dead_and_temporary_one_retries(smtp, alice, bob):
    smtp.handler.replies["alice@example.com"] = "550 5.1.1 mailbox unavailable"
    smtp.handler.replies["bob@example.com"] = "451 4.3.0 try again later"
    result = send([alice, bob], title="Hi", priority="urgent")
    rows = deliveries_of(result, channel="email")
    send_now(rows)
    by_user = {reload(d).notification.recipient_id: reload(d) for d in rows}
    assert by_user[alice.pk].status == DeliveryStatus.DEAD and "550" in by_user[alice.pk].last_error
    assert by_user[bob.pk].status == DeliveryStatus.FAILED and "451" in by_user[bob.pk].last_error
    assert by_user[bob.pk].attempts == 1 and by_user[bob.pk].due_at > timezone.now()
    assert smtp.messages == []


def _digest_now(user) -> list[Delivery]:
    rows = list(Delivery.objects.filter(channel="email", notification__recipient=user, digest=True))
    past = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(due_at=past, updated_at=past - timedelta(hours=1))
    deliveries_dispatch_due()
    return rows


def test_a_digest_has_one_line_per_group_with_its_summary(smtp, alice, bob, eager):
    # given alice on an hourly digest: three comments on one post (two actors), and one other comment
    carol = make_user("carol", first_name="Carol")
    UserSettings.objects.create(user=alice, email_digest="hourly")
    for actor in (bob, carol, bob):
        send([alice], title=f"{actor.username} commented on Fix login", group_key="post:42", actor=actor)
    send([alice], title="Unrelated comment", actor=bob)
    # when the digest goes out
    assert len(_digest_now(alice)) == 4
    # then one email counts every notification, with one line per group: the newest member and its summary
    (message,) = smtp.messages
    text, html = _parts(message)
    assert message["Subject"] == "4 new notifications"
    assert text.count("commented on Fix login") == 1 and text.count("Unrelated comment") == 1
    assert "bob commented on Fix login\r\n  bob and Carol · 3 notifications" in text
    assert "bob and Carol · 3 notifications" in html
    assert text.index("Unrelated comment") < text.index("bob commented on Fix login")


def test_a_private_groups_digest_line_says_how_many_and_never_who_or_what(smtp, alice, bob, eager):
    Category.objects.filter(slug="mention").update(sensitivity="private")
    UserSettings.objects.create(user=alice, email_digest="hourly")
    for _ in range(2):
        send([alice], category="mention", title="Secret plans", group_key="plans:7", actor=bob)
    assert len(_digest_now(alice)) == 2
    (message,) = smtp.messages
    text, _html = _parts(message)
    assert "\r\n  2 notifications\r\n" in text
    assert "bob" not in message.as_string() and "Secret plans" not in message.as_string()
