"""Two real import processes on PostgreSQL share files; one fails at its insert.

The claim (issue 10): every committed image keeps its file, and the collector later
removes only what nothing references, once the grace period has passed.

The failure is a real database error at the INSERT: a trigger installed for the test
raises on the rows of the failing set. Triggers also hold each import's INSERT for a
moment so that the dangerous interleaving happens: the winning import has found the
shared blobs already in place before the failing one gives up, and commits after it.
(An import that cleaned up "its" blobs on failure deleted the winner's files here.)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from metrics.models import Image, ImageSet
from tests.conftest import write_images
from tests.metrics.workers import database_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the race of two import processes needs PostgreSQL (SQLite takes one writer at a "
        "time): run with DATABASE_URL=postgres://... (as .ci/run does)",
    ),
]

SHARED, OWN = 120, 30

TRIGGER = """
CREATE OR REPLACE FUNCTION evalsite_test_insert_gate() RETURNS trigger AS $$
DECLARE
  target text;
BEGIN
  IF coalesce(current_setting('evalsite_test.gated', true), '') = '' THEN
    PERFORM set_config('evalsite_test.gated', '1', true);  -- once per transaction
    SELECT name INTO target FROM metrics_imageset WHERE id = NEW.image_set_id;
    IF target = 'failing' THEN
      PERFORM pg_sleep(1.5);
      RAISE EXCEPTION 'injected failure at the insert of set failing';
    ELSIF target = 'winning' THEN
      PERFORM pg_sleep(4);
    END IF;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER evalsite_test_insert_gate BEFORE INSERT ON metrics_image
  FOR EACH ROW EXECUTE FUNCTION evalsite_test_insert_gate();
"""


@pytest.fixture
def insert_gate():
    with connection.cursor() as cursor:
        cursor.execute(TRIGGER)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS evalsite_test_insert_gate ON metrics_image")
        cursor.execute("DROP FUNCTION IF EXISTS evalsite_test_insert_gate()")


def start_import(folder: Path, set_name: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_images", str(folder), "--set", set_name,
         "--kind", "reference", "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_a_failing_concurrent_import_never_costs_a_committed_image_its_file(
    insert_gate, tmp_path, settings
):
    # Given two folders that share SHARED images, each with OWN images of its own,
    winning, failing = tmp_path / "winning", tmp_path / "failing"
    write_images(winning, SHARED, prefix="shared")
    write_images(failing, SHARED, prefix="shared")
    write_images(winning, OWN, start_seed=1000, prefix="w")
    write_images(failing, OWN, start_seed=2000, prefix="f")
    env = {**os.environ, "DATABASE_URL": database_url(),
           "EVALSITE_MEDIA_ROOT": str(settings.MEDIA_ROOT)}  # fmt: skip

    # when both are imported at once by two processes and one fails at its insert,
    procs = {"failing": start_import(failing, "failing", env)}
    time.sleep(0.3)  # the failing import stores the shared blobs first
    procs["winning"] = start_import(winning, "winning", env)
    outputs = {name: proc.communicate(timeout=300)[0] for name, proc in procs.items()}

    assert procs["winning"].returncode == 0, outputs["winning"]
    assert procs["failing"].returncode != 0, outputs["failing"]
    assert "injected failure at the insert" in outputs["failing"]
    assert not ImageSet.objects.filter(name="failing").exists()

    # then every committed image's file is in place, byte for byte.
    images = list(Image.objects.filter(image_set__name="winning"))
    assert len(images) == SHARED + OWN
    for image in images:
        path = Path(settings.MEDIA_ROOT) / image.blob
        assert path.exists(), f"{image.filename} lost its file"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == image.sha256

    # The failing import's own images stay on disk for the collector: within the grace
    # period it removes nothing; once past it (run as a third process), only those.
    referenced = {image.blob for image in images}
    stored = {p.relative_to(settings.MEDIA_ROOT).as_posix()
              for p in (Path(settings.MEDIA_ROOT) / "images").rglob("*") if p.is_file()}  # fmt: skip
    orphans = stored - referenced
    assert len(orphans) == OWN and not any(Path(o).name.startswith(".tmp-") for o in orphans)

    def collect(grace: int) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "collect_blobs", "--grace", str(grace)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "removed 0 files" in collect(3600)
    past = time.time() - 7200
    for rel in stored:
        os.utime(Path(settings.MEDIA_ROOT) / rel, (past, past))
    assert f"removed {OWN} files ({OWN} originals" in collect(3600)
    left = {p.relative_to(settings.MEDIA_ROOT).as_posix()
            for p in (Path(settings.MEDIA_ROOT) / "images").rglob("*") if p.is_file()}  # fmt: skip
    assert left == referenced
