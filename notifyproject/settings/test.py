"""Test settings: base plus speed. DATABASE_URL / REDIS_URL still select PostgreSQL and Redis in CI."""

import os

# Before base is imported: base refuses to start without a secret key when DEBUG is off.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key")
os.environ.setdefault("DJANGO_DEBUG", "false")
# The test process itself runs without the connection pool: tests start and drop event loops and threads by the
# hundred, and a dropped thread's pooled connection is never handed back. Live servers started by tests set
# DATABASE_POOL=1 (production's default), so the pool is what they serve with (tests/notifications/live.py).
os.environ.setdefault("DATABASE_POOL", "0")
# Every test client signs in from 127.0.0.1: the per-address sign-in budget is for real clients.
os.environ.setdefault("LOGIN_RATE_ADDRESS", "1000/m")

from .base import *  # noqa: F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Set by .ci/run: service-backed tests fail (never skip) when PostgreSQL or Redis is missing.
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
# Live servers in tests speak plain HTTP on loopback.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Live servers started by tests do not run the embedded delivery scheduler unless a test asks for it.
EMBEDDED_SCHEDULER = env.bool("EMBEDDED_SCHEDULER", default=False)
