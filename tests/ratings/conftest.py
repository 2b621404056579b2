"""Fixtures of the ratings tests: a small catalog, and a database many threads can write."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from django.db import connections

from tests.ratings.factories import make_catalog


@pytest.fixture
def catalog(db, tmp_path):
    """(generated sets of 3 models x 3 prompts x 4 images, a reference set of 6 photos)."""
    return make_catalog(tmp_path / "catalog")


class ConcurrentDB:
    """Hands each worker thread a connection of its own to the test database."""

    def __init__(self, settings_dict: dict | None):
        self._settings = settings_dict  # None: use the configured database as it is

    @contextlib.contextmanager
    def thread_connection(self):
        """Use inside a worker thread: its own connection, closed when the thread is done."""
        if self._settings is not None:
            wrapper = connections["default"].__class__(dict(self._settings), "default")
            connections["default"] = wrapper  # thread-local: other threads keep theirs
        try:
            yield
        finally:
            connections["default"].close()


@pytest.fixture
def concurrent_db(transactional_db, tmp_path):
    """The test database, shared by threads that each hold their own connection.

    PostgreSQL (CI): used as is. SQLite: pytest-django's in-memory test database is
    one shared cache in which a writing connection makes the others fail at once
    ("database table is locked") instead of waiting, unlike a real SQLite file. So
    the migrated empty database is copied to a file (WAL, busy timeout, BEGIN
    IMMEDIATE, as in production) and the test, main thread included, runs on it.
    """
    main = connections["default"]
    if main.vendor != "sqlite" or not main.is_in_memory_db():
        yield ConcurrentDB(None)
        return
    path = tmp_path / "concurrency.sqlite3"
    main.ensure_connection()
    target = sqlite3.connect(path)
    main.connection.backup(target)
    target.close()
    settings_dict = {**main.settings_dict, "NAME": str(path)}
    file_conn = main.__class__(dict(settings_dict), "default")
    connections["default"] = file_conn
    try:
        yield ConcurrentDB(settings_dict)
    finally:
        file_conn.close()
        connections["default"] = main
