"""Test settings: base plus speed. DATABASE_URL / REDIS_URL still select PostgreSQL and Redis in CI."""

import os

# Before base is imported: base refuses to start without a secret key when DEBUG is off.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key")
os.environ.setdefault("DJANGO_DEBUG", "false")

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
