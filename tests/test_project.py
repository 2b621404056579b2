"""Project-level checks: production settings, migrations, compose file, demo data."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "k3y-" + "x7Qz!pL9#vR2@mN5" * 4,
        "DJANGO_ALLOWED_HOSTS": "evalsite.example.org",
        "DJANGO_SECURE": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EVALSITE_VAR_DIR": str(tmp_path),
    }
    proc = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_deploy_flags_the_development_defaults(tmp_path, monkeypatch):
    # The suite's own key (tests/conftest.py) is a strong one: the default is under test.
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    proc = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DJANGO_DEBUG": "1"},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stdout + proc.stderr


@pytest.mark.django_db
def test_migrations_are_in_step_with_the_models():
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


def test_the_compose_file_parses_and_points_at_real_modules():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "migrate", "web", "worker-cpu", "worker-gpu"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service or name == "migrate", name
    web = services["web"]["command"]
    module, attr = web[web.index("gunicorn") + 1].split(":")
    assert hasattr(importlib.import_module(module), attr)
    for worker in ("worker-cpu", "worker-gpu"):
        command = services[worker]["command"]
        app = command[command.index("-A") + 1]
        assert importlib.import_module(app).celery_app.main == "evalsite"
    gpu = services["worker-gpu"]
    assert gpu["command"][gpu["command"].index("-Q") + 1] == "gpu"
    assert gpu["command"][gpu["command"].index("--concurrency") + 1] == "1"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert services["migrate"]["command"][:3] == ["python", "manage.py", "migrate"]
    # A crashed server or worker comes back by itself: nobody restarts it by hand.
    for name in ("db", "redis", "web", "worker-cpu", "worker-gpu"):
        assert services[name]["restart"] == "unless-stopped", name


def test_every_environment_variable_read_by_settings_is_documented():
    import re

    settings_text = (ROOT / "evalsite" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', settings_text))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()


@pytest.mark.django_db
def test_the_demo_loads_models_a_reference_set_and_edits_and_is_idempotent():
    from metrics.models import Image, ImageSet, MetricRun

    out = io.StringIO()
    call_command("load_demo", stdout=out)
    first = out.getvalue()
    call_command("load_demo", stdout=(second := io.StringIO()))
    kinds = sorted(ImageSet.objects.values_list("kind", flat=True))
    assert kinds == ["generated"] * 4 + ["reference", "source"]
    generated = Image.objects.filter(image_set__kind="generated")
    assert generated.filter(prompt__isnull=False).count() == generated.count() > 0
    edits = Image.objects.filter(image_set__name="edits-demo")
    assert edits.filter(source__isnull=False, caption__gt="").count() == edits.count() == 8
    assert " 0 imported" not in first and "queued ssim" in first
    assert all(
        " 0 imported" in line for line in second.getvalue().splitlines() if "imported" in line
    )
    assert MetricRun.objects.count() == 2  # the SSIM and PSNR runs are queued once
