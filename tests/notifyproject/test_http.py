"""notifyproject/http.py against a live daphne: the one-hop handler still serves what stock Django's ASGI handler
serves (a streamed file, a buffered API answer, a 400 for a body the parser refuses) and returns each request's
database connection, so sequential keep-alive requests never pile connections up."""

from pathlib import Path

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import make_user, send

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SERVICE_WORKER = Path(__file__).resolve().parents[2] / "static" / "notifications" / "sw.js"


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_streamed_file_arrives_whole(web):
    response = requests.get(f"{web.base}/sw.js", timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.content == SERVICE_WORKER.read_bytes()


def test_sequential_keep_alive_requests_reuse_connections_and_answer_each_one(web):
    user = make_user("http-seq")
    send([user], title="one")
    token = Token.objects.create(user=user).key
    headers = {"Authorization": f"Token {token}"}
    with requests.Session() as session:
        counts = [
            session.get(f"{web.base}/api/v1/notifications/unread-count/", headers=headers, timeout=30).json()["count"]
            for _ in range(100)
        ]
        refused = session.post(
            f"{web.base}/api/v1/notifications/mark-all-read/",
            data=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
            timeout=30,
        )
        marked = session.post(f"{web.base}/api/v1/notifications/mark-all-read/", json={}, headers=headers, timeout=30)
        after = session.get(f"{web.base}/api/v1/notifications/unread-count/", headers=headers, timeout=30).json()

    assert counts == [1] * 100
    assert refused.status_code == 400
    assert marked.json() == {"updated": 1}
    assert after["count"] == 0
    # One request at a time: the process never needs more than a few of its pooled connections.
    assert _backends() <= 4
