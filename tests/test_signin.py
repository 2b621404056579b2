"""Sign-in and site security: lockout, the app's own login page, the secret key, the CSP header."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-researcher-password"


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("res", password=PASSWORD, is_staff=True)


def attempt(client, password, address="192.0.2.1"):
    return client.post(
        reverse("login"), {"username": "res", "password": password}, REMOTE_ADDR=address
    )


def test_repeated_failures_lock_the_user_from_that_address_only(researcher, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the form again, with its error
    assert attempt(client, "wrong").status_code == 429  # the last allowed failure locks
    locked = attempt(client, PASSWORD)
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # The same account from another address still signs in.
    other = Client()
    assert attempt(other, PASSWORD, address="198.51.100.9").status_code == 302


def test_a_success_before_the_limit_resets_the_count(researcher, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302


@pytest.mark.parametrize("path", ["/campaigns/", "/catalog/", "/admin/"])
def test_logged_out_visitors_of_protected_pages_get_the_apps_login_page(client, db, path):
    response = client.get(path, follow=True)
    final, _status = response.redirect_chain[-1]
    assert final.startswith(reverse("login") + "?next=")
    assert "Log in" in response.content.decode()


def test_a_judge_account_on_a_researchers_page_is_told_why(client, db):
    judge = get_user_model().objects.create_user("jo", password="pw-judge-123")
    client.force_login(judge)
    response = client.get("/campaigns/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "signed in as jo" in html and "for researchers" in html


def test_every_page_carries_a_content_security_policy(client, db):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def _start_settings(**env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_production_start_without_a_secret_key_is_refused():
    refused = _start_settings(DJANGO_DEBUG="0")
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY is not set" in refused.stderr
    assert _start_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 50).returncode == 0
    assert _start_settings(DJANGO_DEBUG="1").returncode == 0
