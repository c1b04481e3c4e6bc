"""The Python client's update and retract calls against the live server (PostgreSQL + Redis): a send changes and
leaves the inbox; another producer's send is NotFound; an update after a retraction is Retracted, not retried."""

import asyncio

import pytest
from notify_client import AsyncClient, Client, NotFound, Retracted, ValidationFailed
from rest_framework.authtoken.models import Token

from notifications.models import Content, Notification
from tests.factories import make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _token(name: str) -> str:
    return Token.objects.create(user=make_user(name, perms=["send_notification"])).key


def test_update_then_retract_a_send_and_every_refusal_is_its_own_error(web):
    alice = make_user("client-retract-alice")
    waits: list[float] = []
    with Client(web.base, _token("client-retract-producer"), sleep=waits.append) as client:
        sent = client.send(recipients=[alice.pk], category="comment", title="Draft", group_key="c:1")
        # when it is updated, then the answer is the send as it is now
        updated = client.update(sent.id, title="Final", data={"v": 2})
        assert (updated["id"], updated["title"], updated["data"], updated["retracted_at"]) == (
            sent.id,
            "Final",
            {"v": 2},
            None,
        )
        with pytest.raises(ValidationFailed) as bad:
            client.update(sent.id, url="javascript:alert(1)")
        assert list(bad.value.errors) == ["url"]
        # when it is retracted, it leaves alice's inbox; updating it now is Retracted at once (no retry)
        assert client.retract(sent.id)["retracted_at"] is not None
        with pytest.raises(Retracted):
            client.update(sent.id, title="Back?")
        assert waits == []
    assert Content.objects.get(uuid=sent.id).title == "Final"
    assert Notification.objects.get(recipient=alice).archived_at is not None
    # and another producer finds nothing
    with Client(web.base, _token("client-retract-other"), sleep=waits.append) as other:
        with pytest.raises(NotFound):
            other.retract(sent.id)


def test_the_async_client_retracts_by_group_key(web):
    alice = make_user("client-group-alice")
    token = _token("client-group-producer")

    async def run():
        async with AsyncClient(web.base, token) as client:
            for title in ("one", "two"):
                await client.send(recipients=[alice.pk], category="comment", title=title, group_key="post:9")
            await client.send(recipients=[alice.pk], category="comment", title="kept", group_key="post:10")
            return await client.retract_group("post:9")

    result = asyncio.run(run())
    assert (result.sends, result.notifications) == (2, 2)
    assert list(Content.objects.filter(retracted_at__isnull=True).values_list("title", flat=True)) == ["kept"]
