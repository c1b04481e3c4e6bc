"""Security headers: no-store on personal pages and the API."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.test import Client

BASE_DIR = Path(__file__).resolve().parents[2]


def test_logged_in_page_is_no_store(alice):
    # given a logged-in user
    client = Client()
    client.force_login(alice)
    # when they open the notification center
    response = client.get("/preferences/")
    # then the page must not be cached
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_api_is_no_store_even_when_anonymous(db):
    # given no credentials, when the API answers (with an error)
    response = Client().get("/api/v1/notifications/")
    # then it is still not cacheable
    assert response.status_code in (401, 403)
    assert response["Cache-Control"] == "no-store"


def test_deploy_checks_are_clean_with_production_env():
    # given production-like environment variables (DEBUG off, real secret, HTTPS settings on)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="notifyproject.settings.base",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
    )
    # when Django's deploy checks run, failing on warnings too
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then there is no warning and nothing silenced
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_every_page_carries_a_strict_content_security_policy(alice):
    # given a logged-in user, when they open a page, the API or the login form
    client = Client()
    client.force_login(alice)
    for path in ("/notifications/", "/preferences/", "/api/v1/notifications/", "/accounts/login/"):
        policy = client.get(path)["Content-Security-Policy"]
        # then scripts and styles are first-party only: nothing inline can run
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, path


def test_api_docs_keep_scripts_first_party(alice):
    # given the API docs (Swagger UI styles itself inline)
    client = Client()
    client.force_login(alice)
    response = client.get("/api/v1/docs/")
    # then its init script is a file of ours, not inline, and only styles are relaxed
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy + ";" and "style-src 'self' 'unsafe-inline'" in policy
    html = response.content.decode()
    assert "<script>" not in html.replace(" ", "")
    assert client.get("/api/v1/docs/?script=").status_code == 200
