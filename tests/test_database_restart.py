"""A database server that drops its connections (a PostgreSQL restart, a failover) costs
the web server no failed request: persistent connections are health-checked before use.

Django's test client switches that check off, so this runs gunicorn as compose does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.metrics.workers import database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_gunicorn_answers_every_request_after_the_server_dropped_its_connections(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip(
            "a dropped server connection needs PostgreSQL: SQLite has no server to drop it; "
            "run with DATABASE_URL=postgres://... (as .ci/run does)"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_DEBUG": "0",
           "DJANGO_SECRET_KEY": "test-" + "x" * 50, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}  # fmt: skip
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "evalsite.wsgi:application", "--workers", "2",
         "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=open(tmp_path / "web.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(url) == 200:
                    break
            except OSError:
                time.sleep(0.3)
        for _ in range(6):  # both gunicorn workers now hold a persistent connection
            assert _get(url) == 200
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1

        statuses = [_get(url) for _ in range(6)]
        assert statuses == [200] * 6, (tmp_path / "web.log").read_text()[-3000:]
    finally:
        web.terminate()
        web.wait(20)
