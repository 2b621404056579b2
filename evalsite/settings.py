"""evalsite settings: one file, every knob read from the environment.

Every variable is listed in ``.env.example`` with one line of meaning. With no
environment at all the platform runs on its embedded defaults: SQLite (WAL) in
``var/`` and Celery's filesystem broker, so nothing has to be installed.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

from evalsite.csp import style_hashes

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- core -----------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)
# The default key is only good for a laptop (DJANGO_DEBUG=1, as `make run` sets) and for the
# test suite: anyone who knows it can forge sessions. A production start (debug off) without
# DJANGO_SECRET_KEY is refused instead of silently running on the public default.
_TESTING = "pytest" in sys.modules
if not DEBUG and not _TESTING and not env_str("DJANGO_SECRET_KEY"):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: set DJANGO_SECRET_KEY to 50 random "
        "characters (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or DJANGO_DEBUG=1 on a development machine."
    )
SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY", "django-insecure-evalsite-local-development-key-change-me"
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

VAR_DIR = Path(env_str("EVALSITE_VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "metrics",
    "ratings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it answers locked-out sign-ins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "evalsite.urls"
WSGI_APPLICATION = "evalsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "evalsite" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------

if "DATABASE_URL" not in os.environ:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'evalsite.sqlite3'}")
# Health checks: a connection the server dropped (a PostgreSQL restart) is replaced
# before the request uses it, instead of answering that request with a 500.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so that worker processes started by tests see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; the busy timeout makes
        # a writer wait for the lock instead of failing with "database is locked";
        # IMMEDIATE takes the write lock at BEGIN so two writers never deadlock.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- sign-in throttling (django-axes) ---------------------------------------------------

# The throttling backend comes first: it refuses a locked-out user and IP before any
# password is checked. Sign-ins without a request (the test client, shell) skip it.
AUTHENTICATION_BACKENDS = [
    "evalsite.auth.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures are counted per user name *and* client address: a stranger guessing a
# researcher's password from elsewhere cannot lock the researcher out of their own machine.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("EVALSITE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("EVALSITE_LOGIN_LOCKOUT_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- i18n, static, media --------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "evalsite" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        # Production (compose) runs collectstatic and sets EVALSITE_MANIFEST_STATIC=1.
        if env_bool("EVALSITE_MANIFEST_STATIC", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Image blobs live outside any URL: they are served through views that check
# permissions (researchers see originals, judges only blinded derivatives).
MEDIA_ROOT = Path(env_str("EVALSITE_MEDIA_ROOT", str(VAR_DIR / "media")))

# --- object storage (issue 14) ---
# Where blobs, derivatives and exports live: empty or file:// (MEDIA_ROOT, as always),
# file:///abs/folder (that folder), or s3://bucket/prefix on any S3-compatible server.
# The bucket backend is the "blobs" entry of STORAGES (django-storages' S3 backend).
EVALSITE_STORAGE_URL = env_str("EVALSITE_STORAGE_URL", "")
# Researchers and exports get presigned links valid this long; 0 serves through the app
# (a private bucket whose server is not reachable from browsers).
EVALSITE_PRESIGN_SECONDS = env_int("EVALSITE_PRESIGN_SECONDS", 300)
# Workers' local read-through copies of bucket blobs: $EVALSITE_CACHE_DIR/blobs, size-capped.
EVALSITE_BLOB_CACHE_DIR = Path(
    env_str("EVALSITE_BLOB_CACHE_DIR")
    or (Path(env_str("EVALSITE_CACHE_DIR")) / "blobs" if env_str("EVALSITE_CACHE_DIR") else "")
    or VAR_DIR / "blob-cache"
)
EVALSITE_BLOB_CACHE_MAX_BYTES = env_int("EVALSITE_BLOB_CACHE_MAX_BYTES", 20 * 1024**3)


def _storage_from_url(url: str) -> dict | None:
    """The STORAGES entry of a bucket URL; None for the local folder (MEDIA_ROOT)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return None
    if parts.scheme != "s3" or not parts.netloc:
        raise ImproperlyConfigured(
            f"EVALSITE_STORAGE_URL={url!r}: use file:///folder or s3://bucket/prefix"
        )
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": parts.netloc,
            "location": parts.path.strip("/"),
            "endpoint_url": env_str("EVALSITE_S3_ENDPOINT_URL") or None,
            "region_name": env_str("EVALSITE_S3_REGION") or None,
            # Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role),
            # read by boto3 itself.
            "addressing_style": env_str("EVALSITE_S3_ADDRESSING_STYLE") or None,
            "querystring_auth": True,
            "querystring_expire": max(1, EVALSITE_PRESIGN_SECONDS),
            "file_overwrite": False,
            "default_acl": None,
        },
    }


if _storage_from_url(EVALSITE_STORAGE_URL):
    STORAGES["blobs"] = _storage_from_url(EVALSITE_STORAGE_URL)
elif EVALSITE_STORAGE_URL.startswith("file://") and len(EVALSITE_STORAGE_URL) > len("file://"):
    MEDIA_ROOT = Path(EVALSITE_STORAGE_URL[len("file://") :])

# --- evalsite knobs --------------------------------------------------------------------

EVALSITE_MAX_IMAGE_PIXELS = env_int("EVALSITE_MAX_IMAGE_PIXELS", 64_000_000)
EVALSITE_MAX_IMAGE_BYTES = env_int("EVALSITE_MAX_IMAGE_BYTES", 50 * 1024 * 1024)
EVALSITE_MAX_UPLOAD_BYTES = env_int("EVALSITE_MAX_UPLOAD_BYTES", 2 * 1024 * 1024 * 1024)
# --- imports (issue 10) ---
# One import: at most this many files and bytes (unpacked), refused before any is read.
# 100,000 files of up to 50 MB: an FID set of 50,000 images with room to spare.
EVALSITE_MAX_IMPORT_FILES = env_int("EVALSITE_MAX_IMPORT_FILES", 100_000)
EVALSITE_MAX_IMPORT_BYTES = env_int("EVALSITE_MAX_IMPORT_BYTES", 64 * 1024**3)
# Memory one image may take to decode (width x height x channels x bytes per sample,
# with the conversion to 8-bit RGB): 16-bit and huge images are refused before decoding.
EVALSITE_MAX_DECODE_BYTES = env_int("EVALSITE_MAX_DECODE_BYTES", 512 * 1024**2)
# Stored files nothing references are deleted by `collect_blobs` once this old (seconds).
EVALSITE_BLOB_GRACE_SECONDS = env_int("EVALSITE_BLOB_GRACE_SECONDS", 24 * 3600)
# How often the workers' housekeeping sends the collector (seconds; 0: never).
EVALSITE_BLOB_COLLECT_SECONDS = env_int("EVALSITE_BLOB_COLLECT_SECONDS", 3600)
# An import job whose worker wrote no progress for this long is sent again.
EVALSITE_IMPORT_STALE_SECONDS = env_int("EVALSITE_IMPORT_STALE_SECONDS", 600)
EVALSITE_WEIGHTS_DIR = env_str("EVALSITE_WEIGHTS_DIR")
# Explicit weights files (e.g. a torch-fidelity copy); used as given, their sha256 recorded.
EVALSITE_INCEPTION_WEIGHTS = env_str("EVALSITE_INCEPTION_WEIGHTS")
EVALSITE_LPIPS_WEIGHTS = env_str("EVALSITE_LPIPS_WEIGHTS")
EVALSITE_LPIPS_BACKBONE_WEIGHTS = env_str("EVALSITE_LPIPS_BACKBONE_WEIGHTS")
# Human-preference scorers' explicit weights files (aesthetic head, HPS v2.1 checkpoint).
EVALSITE_AESTHETIC_WEIGHTS = env_str("EVALSITE_AESTHETIC_WEIGHTS")
EVALSITE_HPS_WEIGHTS = env_str("EVALSITE_HPS_WEIGHTS")
EVALSITE_IMAGEREWARD_WEIGHTS = env_str("EVALSITE_IMAGEREWARD_WEIGHTS")
# Uploads are streamed to temporary files above this size, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# --- rating campaign links (slot hogging) ---------------------------------------------

# New judges one client address may start per campaign link (django-ratelimit rate).
EVALSITE_LINK_JUDGES_PER_CLIENT = env_str("EVALSITE_LINK_JUDGES_PER_CLIENT", "10/h")
EVALSITE_LINK_JUDGES_PER_CLIENT_COUNT = int(EVALSITE_LINK_JUDGES_PER_CLIENT.split("/")[0])
# Live leases all judges started from one client address may hold together in a campaign.
EVALSITE_LINK_LEASES_PER_CLIENT = env_int("EVALSITE_LINK_LEASES_PER_CLIENT", 4)
# The lease of a judge who has answered nothing yet (later leases: the campaign's own).
EVALSITE_FIRST_LEASE_SECONDS = env_int("EVALSITE_FIRST_LEASE_SECONDS", 180)
# Leases a judge may let lapse before answering anything, before getting no more tasks.
EVALSITE_IDLE_LAPSES = env_int("EVALSITE_IDLE_LAPSES", 2)

# --- cache ---------------------------------------------------------------------------

# Built reports are cached here. Per-process memory by default; with several web
# processes (gunicorn) point it at Redis so they share one copy.
EVALSITE_CACHE_URL = env_str("EVALSITE_CACHE_URL")
if EVALSITE_CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": EVALSITE_CACHE_URL,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API --------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}

# --- Celery ----------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost//")
CELERY_BROKER_DIR = Path(env_str("CELERY_BROKER_DIR", str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Kombu's filesystem transport needs its folders to exist before the first message.
    for _sub in ("queue", "control"):
        (CELERY_BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis: a task not acknowledged within this time is redelivered; must exceed the
    # longest task's hard time limit, or a slow task runs twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * 3600)
    }
# Results live in the database rows; Celery's result backend is not used.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker went away reconnects for ever instead of exiting.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 4
# Publishing with the broker down fails fast (a request must not hang); the step stays
# recorded and the sweeper sends it once the broker is back.
EVALSITE_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}

# --- metric runs -----------------------------------------------------------------------

EVALSITE_FEATURE_CHUNK_SIZE = env_int("EVALSITE_FEATURE_CHUNK_SIZE", 256)
EVALSITE_BATCH_SIZE = env_int("EVALSITE_BATCH_SIZE", 32)
# Decoding threads per feature task (threads: they work inside a prefork child).
EVALSITE_DECODE_WORKERS = env_int("EVALSITE_DECODE_WORKERS", min(4, os.cpu_count() or 1))
# Liveness (metrics/services/runs/sweep.py): a claimed step's lease, renewed by its
# process every third of it; how often workers sweep; how long a queued message may
# be missing from an empty queue before it counts as lost; when a worker whose main
# process stopped writing heartbeats is shown as gone.
EVALSITE_STEP_LEASE_SECONDS = env_int("EVALSITE_STEP_LEASE_SECONDS", 30)
EVALSITE_SWEEP_SECONDS = env_int("EVALSITE_SWEEP_SECONDS", 5)
EVALSITE_SEND_GRACE_SECONDS = env_int("EVALSITE_SEND_GRACE_SECONDS", 15)
EVALSITE_WORKER_DEAD_SECONDS = env_int("EVALSITE_WORKER_DEAD_SECONDS", 30)

# --- security (production) -------------------------------------------------------------

# Behind TLS set DJANGO_SECURE=1: secure cookies, HTTPS redirect, HSTS.
SECURE = env_bool("DJANGO_SECURE", False)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy (django-csp): scripts only from our own static files (no inline
# script, no event-handler attributes); <style> elements only with the page's nonce (the
# report's); style *attributes* are allowed because progress bars and matplotlib's SVG
# plots carry them, and a style attribute cannot run script.
# matplotlib writes this one <style> element into every SVG plot of the report (inline, so no
# nonce): allowed by its hash, nothing else.
_MATPLOTLIB_SVG_STYLE_HASH = style_hashes(
    b'<style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>'
)[0]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE, _MATPLOTLIB_SVG_STYLE_HASH],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("EVALSITE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # one INFO line per sign-in otherwise
    },
}
