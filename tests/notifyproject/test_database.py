"""PostgreSQL binds parameters and prepares the statements a connection runs again and again."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

from notifications.services import notify
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]


def test_a_send_statement_run_again_and_again_is_prepared_on_its_connection(postgres, db):
    # given a recipient
    user = make_user("prepared")

    # when one connection sends to them six times
    for i in range(6):
        notify(recipients=[user], category="comment", title=f"send {i}")

    # then PostgreSQL holds the send's statement prepared on that connection (parsed and planned once)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [statement for (statement,) in cursor.fetchall()]
    assert any("INSERT INTO" in s and "notifications_notification" in s for s in statements), statements


def database_options(**env: str) -> dict:
    """The default database's OPTIONS as production settings build them from this environment."""
    code = (
        "import json; from notifyproject.settings import base; "
        "print(json.dumps(base.DATABASES['default'].get('OPTIONS', {})))"
    )
    production = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused", "DJANGO_SECRET_KEY": "x" * 50}
    environ = {**os.environ, **production, "DJANGO_ALLOWED_HOSTS": "localhost", "DJANGO_DEBUG": "false", **env}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_prepared_statements_are_on_by_default_and_off_for_pgbouncer():
    on = database_options()
    off = database_options(DATABASE_PREPARED_STATEMENTS="0")
    assert (on["server_side_binding"], on["prepare_threshold"]) == (True, 5)
    assert "server_side_binding" not in off and "prepare_threshold" not in off
