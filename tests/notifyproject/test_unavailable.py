"""A database that cannot be reached answers 503 with a JSON body and Retry-After, never 500: a live web process
pointed at a PostgreSQL port where nothing listens (no service needed, so this runs on the embedded pass too),
with the connection pool (its timeout) and without it (PgBouncer's setting: a refused connect)."""

import pytest
import requests

from bench.harness.live import Daphne, free_port

pytestmark = [pytest.mark.slow]

PATHS = (
    ("/api/v1/notifications/unread-count/", {"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"}),
    ("/api/v1/notifications/", {"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"}),
    ("/notifications/", {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}),  # a page, the session lookup
)


@pytest.mark.parametrize("pool", ["0", "1"])
def test_requests_meeting_an_unreachable_database_answer_503_json(pool):
    web = Daphne(
        database=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        redis="",
        prefix="unavailable",
        extra_env={"DATABASE_POOL": pool, "DATABASE_POOL_TIMEOUT": "1"},
    )
    try:
        for path, headers in PATHS:
            response = requests.get(f"{web.base}{path}", headers=headers, timeout=30, allow_redirects=False)
            assert response.status_code == 503, (path, response.status_code, response.text[:300])
            assert response.headers["Content-Type"] == "application/json"
            assert response.headers["Retry-After"] == "1"
            assert response.json() == {
                "detail": "The database is unavailable; retry shortly.",
                "code": "database_unavailable",
            }
        # what is not about the database still answers as before
        assert requests.get(f"{web.base}/api/v1/nothing-here/", timeout=10).status_code == 404
        health = requests.get(f"{web.base}/healthz", timeout=30)
        assert health.status_code == 503 and health.json()["database"].startswith("down:")
    finally:
        web.stop()
