"""`manage.py check --deploy` passes under the documented production environment
(docs/production.env.example), and HTTPS behind the proxy works as it says.

Settings read the environment when they are imported, so each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "production.env.example"


def documented_environment() -> dict[str, str]:
    pairs = {}
    for line in EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def check_deploy(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("YOYAKU_", "DJANGO_"))
    }
    environment |= documented_environment() | {"YOYAKU_DATA_DIR": str(tmp_path), **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_the_documented_production_environment(tmp_path: Path) -> None:
    done = check_deploy(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_fails_without_https(tmp_path: Path) -> None:
    # The same environment less YOYAKU_HTTPS: the check must notice, or the pass above proves nothing.
    done = check_deploy(tmp_path, YOYAKU_HTTPS="0")
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr, done.stderr


def test_every_documented_production_variable_is_described_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    undescribed = [name for name in documented_environment() if f"`{name}`" not in readme]
    assert undescribed == []
    assert re.search(r"^## Deploy$", readme, flags=re.MULTILINE)


# Requests through the test client under the documented environment, as the TLS-ending proxy sends them.
BEHIND_THE_PROXY = """
import json
import django

django.setup()
from django.core.management import call_command
from django.test import Client

call_command("collectstatic", interactive=False, verbosity=0)  # the pages name their hashed files
client = Client()
answers = {}
for name, path, headers in [
    ("login over https", "/accounts/login/", {"HTTP_X_FORWARDED_PROTO": "https"}),
    ("login over http", "/accounts/login/", {}),
    ("healthz over http", "/healthz", {}),
]:
    response = client.get(path, HTTP_HOST="book.example.com", **headers)
    cookie = response.cookies.get("csrftoken")
    answers[name] = {
        "status": response.status_code,
        "location": response.get("Location"),
        "hsts": response.get("Strict-Transport-Security"),
        "secure_cookie": bool(cookie and cookie["secure"]),
    }
print(json.dumps(answers))
"""


def test_behind_the_proxy_https_is_recognised_and_http_redirected_except_probes(tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("YOYAKU_", "DJANGO_"))
    }
    # The documented environment, on SQLite: no page here reads the database.
    environment |= documented_environment() | {
        "YOYAKU_DATA_DIR": str(tmp_path),
        "YOYAKU_DATABASE_URL": "",
        "YOYAKU_REDIS_URL": "",
        "YOYAKU_CACHE_URL": "",
        "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", BEHIND_THE_PROXY],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    secure = answers["login over https"]
    assert (secure["status"], secure["secure_cookie"]) == (200, True)
    assert secure["hsts"] == "max-age=31536000; includeSubDomains"
    assert answers["login over http"]["status"] == 301
    assert answers["login over http"]["location"] == "https://book.example.com/accounts/login/"
    assert answers["healthz over http"]["status"] == 200
