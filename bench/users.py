"""Bench users, created in one statement. Runs under our Django and under the peer's alike (stdlib + Django only)."""

from typing import Any


def users_ensure(count: int, prefix: str = "bench") -> list[int]:
    """Ids of users `<prefix>000000`.. in username order, creating the missing ones with one INSERT."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) "
            "SELECT '!', false, %s || lpad(g::text, 6, '0'), '', '', '', false, true, now() "
            "FROM generate_series(0, %s - 1) AS g ON CONFLICT (username) DO NOTHING",
            [prefix, count],
        )
        cursor.execute(
            "SELECT id FROM auth_user WHERE username >= %s AND username <= %s ORDER BY username",
            [prefix + "000000", prefix + str(count - 1).rjust(6, "0")],
        )
        return [row[0] for row in cursor.fetchall()]


def actor_ensure(username: str = "bench-actor") -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    return user
