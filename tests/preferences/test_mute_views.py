"""Mute and budget from the pages: the why fragment's forms (mute, unmute, turn a channel off), the preferences
page's muted groups (listed, removable) and limits; and the mutes API."""

import pytest
from django.utils import timezone

from notifications.models import Notification
from preferences.models import GroupMute, Preference, UserSettings
from preferences.selectors import channel_matrix
from preferences.services import group_mute_create
from tests.factories import make_user, send
from tests.notifications.api.conftest import client_for
from tests.preferences.test_views import full_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def _uuid(result) -> str:
    return str(result.notification_ids[0])


def test_the_why_fragment_offers_mute_buttons_and_a_mute_post_mutes_the_group(alice_client, alice):
    # given a notification of group post:42
    result = send([alice], group_key="post:42")

    # when the why fragment is shown, then its mute form is posted for a week (as the script does)
    page = alice_client.get(f"/notifications/{_uuid(result)}/why/?fragment=1").content.decode()
    response = alice_client.post(f"/notifications/{_uuid(result)}/mute/?fragment=1", {"duration": "week"})

    # then the fragment offered the three durations; the answer is the fragment saying the group is muted
    assert "Mute this group" in page and 'value="8h"' in page and 'value="forever"' in page
    mute = GroupMute.objects.get(user=alice)
    assert (mute.group_key, mute.category_id) == ("post:42", None)
    assert mute.until is not None and 6.9 < (mute.until - timezone.now()).total_seconds() / 86400 <= 7
    text = response.content.decode()
    assert response.status_code == 200 and "This group is muted until" in text and "Unmute this group" in text


def test_without_a_script_the_mute_post_lands_on_the_why_page_and_unmute_removes_it(alice_client, alice):
    # given a notification of post:42, muted forever from its why page
    result = send([alice], group_key="post:42")
    response = alice_client.post(f"/notifications/{_uuid(result)}/mute/", {"duration": "forever"})
    assert response.status_code == 302 and response["Location"] == f"/notifications/{_uuid(result)}/why/"
    assert "muted forever" in alice_client.get(response["Location"]).content.decode()

    # when it is unmuted from the same place
    alice_client.post(f"/notifications/{_uuid(result)}/unmute/")

    # then no mute is left
    assert not GroupMute.objects.exists()


def test_a_notification_without_a_group_offers_no_mute_and_refuses_one(alice_client, alice):
    result = send([alice])
    page = alice_client.get(f"/notifications/{_uuid(result)}/why/?fragment=1").content.decode()
    response = alice_client.post(f"/notifications/{_uuid(result)}/mute/", {"duration": "8h"})
    assert "Mute this group" not in page
    assert response.status_code == 400
    assert not GroupMute.objects.exists()


def test_another_users_notification_cannot_be_muted_or_used_to_change_preferences(alice_client, alice):
    # given bob's notification of post:42
    bob = make_user("bob")
    result = send([bob], group_key="post:42")

    # when alice posts its mute and channel-off forms
    mute = alice_client.post(f"/notifications/{_uuid(result)}/mute/", {"duration": "8h"})
    off = alice_client.post(f"/notifications/{_uuid(result)}/channel-off/", {"channel": "email"})

    # then both are 404 and nothing changed for anyone
    assert (mute.status_code, off.status_code) == (404, 404)
    assert not GroupMute.objects.exists() and not Preference.objects.exists()


def test_turning_the_category_off_for_a_channel_from_the_why_fragment(alice_client, alice):
    # given a comment (email and push on by default)
    result = send([alice])

    # when its why fragment turns comments off for email
    page = alice_client.get(f"/notifications/{_uuid(result)}/why/?fragment=1").content.decode()
    response = alice_client.post(f"/notifications/{_uuid(result)}/channel-off/?fragment=1", {"channel": "email"})

    # then the fragment offered it, email is off for comments (push untouched), and the fragment says so
    assert 'name="channel" value="email"' in page
    assert channel_matrix(user=alice)["comment"] == {"in_app": True, "email": False, "push": True}
    assert "Email: off (your setting)" in response.content.decode()


def test_a_mandatory_channel_is_not_offered_and_refused(alice_client, alice):
    result = send([alice], category="security")
    page = alice_client.get(f"/notifications/{_uuid(result)}/why/?fragment=1").content.decode()
    response = alice_client.post(f"/notifications/{_uuid(result)}/channel-off/", {"channel": "email"})
    assert 'value="email"' not in page
    assert response.status_code == 400
    assert channel_matrix(user=alice)["security"]["email"] is True


def test_the_preferences_page_lists_mutes_and_removes_only_ones_own(alice_client, alice):
    # given alice's mute of post:42 in comments and bob's mute
    mine, _ = group_mute_create(user=alice, group_key="post:42", category="comment")
    theirs, _ = group_mute_create(user=make_user("bob"), group_key="post:7")

    # when the page is shown, bob's mute is removed through it, then hers
    page = alice_client.get("/preferences/").content.decode()
    other = alice_client.post(f"/preferences/mutes/{theirs.pk}/remove/")
    own = alice_client.post(f"/preferences/mutes/{mine.pk}/remove/")

    # then the page listed hers only; bob's removal was a 404; hers is gone
    assert "post:42" in page and "Comments · forever" in page and "post:7" not in page
    assert (other.status_code, own.status_code) == (404, 302)
    assert list(GroupMute.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_the_preferences_form_saves_the_limits_and_names_a_bad_one(alice_client, alice):
    # when the form sets 3 pushes an hour and no email limit
    saved = alice_client.post("/preferences/", full_form(push_per_hour="3", email_per_hour=""))
    # and then a bad value
    refused = alice_client.post("/preferences/", full_form(push_per_hour="0", email_per_hour="5"))

    # then the first is stored; the second is refused with the field's label, and nothing of it is written
    assert saved.status_code == 302
    assert refused.status_code == 400 and "Pushes per hour: must be null or 1..1000." in refused.content.decode()
    settings = UserSettings.objects.get(user=alice)
    assert (settings.push_per_hour, settings.email_per_hour) == (3, None)


def test_the_mutes_api_creates_replaces_lists_and_deletes(alice):
    api = client_for(alice)
    created = api.post("/api/v1/preferences/mutes/", {"group_key": "post:42", "duration": "8h"}, format="json")
    replaced = api.post("/api/v1/preferences/mutes/", {"group_key": "post:42", "until": None}, format="json")
    listed = api.get("/api/v1/preferences/mutes/").json()
    bad = api.post("/api/v1/preferences/mutes/", {"group_key": "post:42", "category": "nope"}, format="json")
    assert (created.status_code, replaced.status_code, bad.status_code) == (201, 200, 400)
    assert bad.json() == {"category": ["Unknown category 'nope'."]}
    mute_id = created.json()["id"]
    assert listed == {
        "results": [
            {
                "id": mute_id,
                "group_key": "post:42",
                "category": None,
                "until": None,
                "created_at": listed["results"][0]["created_at"],
            }
        ]
    }
    assert client_for(make_user("bob")).delete(f"/api/v1/preferences/mutes/{mute_id}/").status_code == 404
    assert api.delete(f"/api/v1/preferences/mutes/{mute_id}/").status_code == 204
    assert api.delete(f"/api/v1/preferences/mutes/{mute_id}/").status_code == 404
    assert not GroupMute.objects.exists()


def test_the_why_api_says_muted_and_names_the_mute(alice):
    group_mute_create(user=alice, group_key="post:42")
    result = send([alice], group_key="post:42")
    why = client_for(alice).get(f"/api/v1/notifications/{_uuid(result)}/why/").json()
    assert (why["muted"], why["group_key"], why["deliveries"]) == (True, "post:42", [])
    assert why["mute"]["group_key"] == "post:42" and why["mute"]["until"] is None
    assert Notification.objects.get(uuid=result.notification_ids[0]).muted is True


def test_the_why_fragment_of_a_muted_one_says_so_and_offers_unmute(alice_client, alice):
    # given a mute of post:42 and a notification of that group, and one of another group
    group_mute_create(user=alice, group_key="post:42")
    muted = send([alice], group_key="post:42")
    other = send([alice], group_key="post:43")

    # when their why fragments are shown
    muted_page = alice_client.get(f"/notifications/{_uuid(muted)}/why/?fragment=1").content.decode()
    other_page = alice_client.get(f"/notifications/{_uuid(other)}/why/?fragment=1").content.decode()

    # then the muted one says it came in muted, with no email or push, and offers unmute; the other does not
    assert "It came in while you had muted this group" in muted_page
    assert "No email or push for this one." in muted_page and "Unmute this group" in muted_page
    assert "muted" not in other_page.replace("Mute this group", "")
