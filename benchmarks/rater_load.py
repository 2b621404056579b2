"""Load benchmark of the rater pages over real HTTP, against gunicorn and a real database.

    python benchmarks/rater_load.py                       # SQLite file in a temporary folder
    python benchmarks/rater_load.py --postgres postgres://postgres@127.0.0.1:5432/postgres
    python benchmarks/rater_load.py --compose --postgres URL --redis redis://127.0.0.1:6379/5
                                  # gunicorn as docker-compose starts it (3 sync workers,
                                  # Redis cache for the per-client limits)

What it does, all on the loopback interface and bounded in time:

1. makes a fresh database (a temporary SQLite file, or a new PostgreSQL database
   ``evalsite_bench_<pid>`` on the given server, dropped at the end), migrates it,
   loads the demo study and an open campaign whose target is high enough that
   judges never run out; pre-makes the judges' image derivatives (steady state);
2. starts gunicorn (gthread workers) on 127.0.0.1 and a free port;
3. phase 1, the trivial view: ``--judges`` threads call ``/healthz`` (one SELECT 1)
   for ``--seconds / 3`` seconds, as the yardstick of the server and machine;
4. phase 2, the rater: each thread is a Prolific participant (own cookies) who
   opens the link, reads the instructions, presses Start, then loops: fetch the task page,
   fetch its images, submit answers (the submit is measured up to its redirect,
   not following it), for ``--seconds`` seconds;
5. prints requests per second and p50/p95/p99 latency of each kind of request,
   then checks the database: no item over its target, no judge given an item
   twice, one rating per answer.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
SETUP_TIMEOUT_S = 300


# --- inside Django (run as a subprocess: ``rater_load.py _setup``) -------------------------------


def _setup_in_django() -> None:
    """Demo study, open benchmark campaign, derivatives made ahead; prints the campaign key."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from metrics import selectors as catalog
    from ratings.presets import criterion_preset
    from ratings.services.campaigns import campaign_create, campaign_set_status
    from ratings.services.images import campaign_images_warm

    call_command("load_demo", stdout=open(os.devnull, "w"))
    # The three text-to-image demo models (load_demo may add other kinds of sets).
    generated = [
        s for s in catalog.image_sets_of_kind(kind="generated") if s.name.startswith("demo-")
    ]
    reference = catalog.image_sets_of_kind(kind="reference").filter(name="demo-reference").first()
    campaign = campaign_create(
        name="load benchmark",
        image_sets=generated,
        reference_set=reference,
        criteria=[
            criterion_preset("realism"),
            criterion_preset("relevance"),
            criterion_preset("realism", "compare"),
            criterion_preset("diversity", "grid"),
        ],
        target_ratings=100,
        allow_link=True,
        gold_rate=0.1,
        min_seconds=0,
    )
    campaign_set_status(campaign=campaign, status="open")
    campaign_images_warm(campaign_id=campaign.pk)
    print(f"KEY={campaign.key} ITEMS={campaign.items.count()}")


def _check_in_django(key: str) -> None:
    """Invariants after the run; prints a summary line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db.models import Count

    from ratings.models import Assignment, Campaign, Rating

    campaign = Campaign.objects.get(key=key)
    over = (
        Assignment.objects.filter(campaign=campaign, status="done")
        .values("item")
        .annotate(n=Count("pk"))
        .filter(n__gt=campaign.target_ratings)
        .count()
    )
    twice = (
        Assignment.objects.filter(campaign=campaign)
        .values("judge", "item")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    done = Assignment.objects.filter(campaign=campaign, status="done").count()
    ratings = Rating.objects.filter(item__campaign=campaign).count()
    without = Assignment.objects.filter(campaign=campaign, status="done", ratings__isnull=True)
    print(
        f"database: {done} tasks answered, {ratings} ratings, items over target: {over}, "
        f"items given twice to a judge: {twice}, answered tasks without ratings: {without.count()}"
    )


# --- the load ----------------------------------------------------------------------------------


class Browser:
    """A judge's HTTP client: its own cookies, no redirects followed, one keep-alive connection."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, bytes]:
        headers = {"Host": f"{LOOPBACK}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{LOOPBACK}:{self.port}{path}"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
                if attempt:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                k, _, v = cookie.partition("=")
                self.cookies[k.strip()] = v.strip()
        return response.status, dict(response.getheaders()), data

    def close(self):
        self.conn.close()


def _answers(html: str) -> dict[str, str]:
    form = {
        "token": re.search(r'name="token" value="([^"]+)"', html).group(1),
        "elapsed_ms": "2500",
    }
    for name in set(re.findall(r'name="(c\d+)"', html)):
        values = re.findall(rf'name="{name}" value="([^"]+)"', html)
        form[name] = values[len(values) // 2]
    return form


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def timed(self, kind: str, call):
        start = time.perf_counter()
        try:
            result = call()
        except Exception:  # noqa: BLE001 - counted and reported, the run goes on
            with self.lock:
                self.errors[kind] += 1
            return None
        elapsed = time.perf_counter() - start
        with self.lock:
            self.times[kind].append(elapsed)
        return result


def _healthz_worker(port: int, deadline: float, rec: Recorder) -> None:
    browser = Browser(port)
    while time.monotonic() < deadline:
        status = rec.timed("trivial view (/healthz)", lambda: browser.request("GET", "/healthz")[0])
        if status not in (None, 200):
            rec.errors["trivial view (/healthz)"] += 1
    browser.close()


def _judge_worker(n: int, port: int, key: str, deadline: float, rec: Recorder, images: bool):
    browser = Browser(port)
    base = f"/s/{key}/"
    try:
        entry = f"{base}?PROLIFIC_PID=bench{n:04d}&STUDY_ID=bench&SESSION_ID=s{n}"
        _, _, html = browser.request("GET", entry)  # the instructions and the Start button
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1).decode()
        browser.request("POST", entry, {"csrfmiddlewaretoken": token})
        while time.monotonic() < deadline:
            got = rec.timed("fetch task page", lambda: browser.request("GET", f"{base}task"))
            if got is None:
                continue
            status, _, body = got
            if status != 200:
                rec.errors["fetch task page"] += 1
                time.sleep(0.05)
                continue
            html = body.decode()
            if images:
                for src in re.findall(r'src="(/s/[^"]+\.jpg)"', html):
                    rec.timed("fetch one image", lambda src=src: browser.request("GET", src))
            form = _answers(html)
            form["csrfmiddlewaretoken"] = re.search(
                r'name="csrfmiddlewaretoken" value="([^"]+)"', html
            ).group(1)
            got = rec.timed(
                "submit answers", lambda form=form: browser.request("POST", f"{base}submit", form)
            )
            if got is not None and got[0] != 302:
                rec.errors["submit answers"] += 1
    finally:
        browser.close()


def _report(rec: Recorder, seconds: dict[str, float]) -> None:
    print(
        f"{'request':<26}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    for kind, times in rec.times.items():
        q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
        rate = len(times) / seconds[kind]
        print(
            f"{kind:<26}{len(times):>8}{rate:>9.1f}{q[49] * 1000:>9.1f}{q[94] * 1000:>9.1f}"
            f"{q[98] * 1000:>9.1f}{rec.errors.get(kind, 0):>8}"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _postgres_database(base_url: str) -> tuple[str, callable]:
    """A fresh database on the server of ``base_url``; (its URL, a function that drops it)."""
    import psycopg

    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname not in (LOOPBACK, "localhost", "::1"):
        raise SystemExit(f"refusing {parts.hostname}: this benchmark talks to loopback only")
    name = f"evalsite_bench_{os.getpid()}"
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="PostgreSQL server URL (a fresh database is made there)")
    parser.add_argument("--judges", type=int, default=16, help="concurrent judges (threads)")
    parser.add_argument("--seconds", type=float, default=20, help="duration of the rater phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--no-images", action="store_true", help="do not fetch the task images")
    parser.add_argument(
        "--compose",
        action="store_true",
        help="gunicorn as docker-compose starts it: 3 sync workers, --timeout 120",
    )
    parser.add_argument(
        "--database",
        help="use this (empty, own) database as it is instead of making one (kept afterwards)",
    )
    parser.add_argument("--redis", help="Redis URL for the cache (EVALSITE_CACHE_URL), as compose")
    args = parser.parse_args()
    if args.compose:
        args.workers, args.threads = 3, 1

    with tempfile.TemporaryDirectory(prefix="evalsite-bench-") as tmp:
        drop = None
        if args.database:
            database_url = args.database
        elif args.postgres:
            database_url, drop = _postgres_database(args.postgres)
        else:
            database_url = f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "EVALSITE_VAR_DIR": tmp,
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": LOOPBACK,
            "DJANGO_SECRET_KEY": "benchmark-only-" + "x" * 40,
            # Every simulated participant comes from 127.0.0.1: the per-client limits of
            # campaign links (meant for one person or one hog per address) are lifted.
            "EVALSITE_LINK_JUDGES_PER_CLIENT": "1000000/h",
            "EVALSITE_LINK_LEASES_PER_CLIENT": "0",
            "EVALSITE_LOG_LEVEL": "WARNING",
            **({"EVALSITE_CACHE_URL": args.redis} if args.redis else {}),
            # load_demo may queue metric runs: into a throwaway folder, never a real broker.
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_BROKER_DIR": f"{tmp}/broker",
            # whitenoise warns that STATIC_ROOT is missing (no collectstatic here): not news.
            "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
        }
        try:
            _run(args, env)
        finally:
            if drop is not None:
                drop()


def _run(args, env: dict) -> None:
    """Set up, load, report and check; gunicorn is stopped whatever happens."""
    gunicorn = None
    key = None
    try:
        print(
            f"database: {env['DATABASE_URL'].split('@')[-1]}; setting up (migrate, demo, campaign)..."
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True,
            timeout=SETUP_TIMEOUT_S,
        )  # fmt: skip
        setup = subprocess.run(
            [sys.executable, __file__, "_setup"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=SETUP_TIMEOUT_S,
        )  # fmt: skip
        if setup.returncode:
            raise SystemExit(f"setting up the benchmark failed:\n{setup.stderr[-3000:]}")
        out = setup.stdout
        key = re.search(r"KEY=(\S+)", out).group(1)
        print(out.strip().splitlines()[-1])
        port = _free_port()
        if args.compose:  # docker-compose.yml's web command
            workers = ["--workers", "3", "--timeout", "120"]
        else:
            workers = ["--workers", str(args.workers), "--threads", str(args.threads),
                       "--worker-class", "gthread", "--timeout", "60"]  # fmt: skip
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "evalsite.wsgi:application",
             "--bind", f"{LOOPBACK}:{port}", *workers, "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        for _ in range(100):
            try:
                if Browser(port).request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not answer /healthz within 10 s")
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads on {LOOPBACK}:{port}; "
            f"{args.judges} concurrent clients; {os.cpu_count()} CPU cores shared with them\n"
        )
        rec = Recorder()
        spans: dict[str, float] = {}

        trivial_s = max(2.0, args.seconds / 3)
        deadline = time.monotonic() + trivial_s
        threads = [
            threading.Thread(target=_healthz_worker, args=(port, deadline, rec))
            for _ in range(args.judges)
        ]
        [t.start() for t in threads]
        [t.join(timeout=trivial_s + 60) for t in threads]
        spans["trivial view (/healthz)"] = trivial_s

        start = time.monotonic()
        deadline = start + args.seconds
        threads = [
            threading.Thread(
                target=_judge_worker,
                args=(n, port, key, deadline, rec, not args.no_images),
            )
            for n in range(args.judges)
        ]
        [t.start() for t in threads]
        [t.join(timeout=args.seconds + 60) for t in threads]
        elapsed = time.monotonic() - start
        for kind in ("fetch task page", "fetch one image", "submit answers"):
            spans[kind] = elapsed
        _report(rec, spans)
        tasks = len(rec.times["submit answers"])
        print(f"\nrater throughput: {tasks / elapsed:.1f} tasks answered per second")
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            try:
                gunicorn.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(gunicorn.pid, signal.SIGKILL)
    if key is not None:
        subprocess.run(
            [sys.executable, __file__, "_check", key], cwd=ROOT, env=env, check=True,
            timeout=SETUP_TIMEOUT_S,
        )  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        _setup_in_django()
    elif len(sys.argv) > 2 and sys.argv[1] == "_check":
        _check_in_django(sys.argv[2])
    else:
        main()
