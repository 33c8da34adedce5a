"""Every message Yoyaku can show has a Japanese translation.

The strings are collected the way a translator would (``makemessages``, which runs xgettext over the
Python code and the templates) into a copy of the Japanese catalog, outside the project; any
message left without a translation fails here, so a new English-only string cannot slip in.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

import yoyaku
from tests.conftest import REQUIRE_SERVICES

PACKAGE = Path(yoyaku.__file__).parent
CATALOG = PACKAGE / "locale" / "ja" / "LC_MESSAGES" / "django.po"

GETTEXT = shutil.which("xgettext") is not None and shutil.which("msgattrib") is not None


@pytest.fixture(autouse=True)
def _gettext() -> None:
    if not GETTEXT:
        message = "GNU gettext (xgettext, msgattrib) is not installed"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}, and YOYAKU_REQUIRE_SERVICES=1 says it must be.")
        pytest.skip(f"{message} (apt-get install gettext).")


def _untranslated(catalog: Path) -> list[str]:
    # msgattrib prints the entries without a translation (and the fuzzy ones, which Django ignores).
    found = []
    for flag in ("--untranslated", "--only-fuzzy"):
        result = subprocess.run(
            ["msgattrib", flag, "--no-obsolete", "--no-wrap", str(catalog)],
            capture_output=True,
            text=True,
            check=True,
        )
        lines = result.stdout.splitlines()
        found += [line for line in lines if line.startswith("msgid ") and line != 'msgid ""']
    return found


def test_every_message_in_the_code_has_a_japanese_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "yoyaku"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "*.mo", "emulators"))
    locale = source / "locale"
    monkeypatch.chdir(source)
    with override_settings(LOCALE_PATHS=[locale]):
        call_command("makemessages", locale=["ja"], no_obsolete=True, verbosity=0)

    missing = _untranslated(locale / "ja" / "LC_MESSAGES" / "django.po")
    assert not missing, "Without a Japanese translation in django.po:\n" + "\n".join(missing)


def test_the_compiled_catalog_is_current(tmp_path: Path) -> None:
    # Django reads the .mo: a translation added to the .po but not compiled is never shown.
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(CATALOG)], check=True)
    assert compiled.read_bytes() == CATALOG.with_suffix(".mo").read_bytes()
