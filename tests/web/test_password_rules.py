"""Password rules (settings.AUTH_PASSWORD_VALIDATORS: Django's four, ten characters at least) wherever a
person sets a password: Settings > Profile, an invitation's link, createsuperuser; Django's messages in
the person's language. The demo's generated passwords meet them."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.management import call_command
from django.test import Client

from tests.factories import make_host, send_queued_mail
from yoyaku.accounts.models import User, WorkspaceRole
from yoyaku.demo.main import stored_secret

pytestmark = [pytest.mark.django_db]

GOOD = "a-long-Passphrase-42"
# Each breaks one rule; the expected words of Django's message, in English and Japanese.
REFUSED = [
    ("short-1", "too short", "短すぎます"),
    ("qwertyuiop", "too common", "一般的すぎます"),
    ("8202416739", "entirely numeric", "数字しか使われていません"),
    ("hana@example.com", "too similar", "似すぎています"),
]


def _errors(html: str) -> str:
    return " ".join(re.findall(r'class="field-error"[^>]*>(.*?)</(?:p|div)>', html, flags=re.S))


@pytest.mark.parametrize(("password", "english", "japanese"), REFUSED)
@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_profile_refuses_a_weak_password_with_the_reason(
    host: User, client_in: Client, password: str, english: str, japanese: str, language: str
) -> None:
    answer = client_in.post(
        "/settings/profile/password/",
        {"old_password": "pw-hana", "new_password1": password, "new_password2": password},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert answer.status_code == 422
    assert (english if language == "en" else japanese) in answer.content.decode()
    host.refresh_from_db()
    assert host.check_password("pw-hana"), "nothing changed"


def test_the_profile_states_the_rules_in_the_hosts_language(client_in: Client) -> None:
    html = client_in.get("/settings/profile/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "パスワードは最低 10 文字以上必要です。" in html
    assert "<ul>" not in html.split('id="id_new_password1_helptext"')[1][:200], "plain sentences, no list"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_invitation_refuses_a_weak_password_and_says_why(language: str) -> None:
    admin = make_host("aoi", role=WorkspaceRole.ADMIN)
    inviter = Client()
    inviter.force_login(admin)
    inviter.post("/settings/workspace/invite/", {"email": "mia@example.org", "role": "member"})
    send_queued_mail()
    [invitation] = mail.outbox
    found = re.search(r"https?://\S+/accounts/invitation/\S+/", invitation.body)
    assert found is not None
    path = "/" + found.group(0).split("/", 3)[3]
    newcomer = Client(HTTP_ACCEPT_LANGUAGE=language)

    shown = newcomer.get(path).content.decode()
    assert ("at least 10 characters" if language == "en" else "最低 10 文字以上") in shown
    weak = newcomer.post(path, {"new_password1": "mia12", "new_password2": "mia12"})
    assert weak.status_code == 200
    assert ("too short" if language == "en" else "短すぎます") in _errors(weak.content.decode())
    assert not User.objects.get(email="mia@example.org").has_usable_password()
    done = newcomer.post(path, {"new_password1": GOOD, "new_password2": GOOD})
    assert done.status_code == 302


class _TTY(StringIO):
    def isatty(self) -> bool:
        return True


def test_createsuperuser_asks_again_for_a_weak_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.contrib.auth.management.commands import createsuperuser

    typed = iter(["short", "short", GOOD, GOOD])
    answers = iter(["root", "root@example.com", "n"])  # username, email, "bypass the rules?": no
    monkeypatch.setattr(createsuperuser.getpass, "getpass", lambda prompt="": next(typed))
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    errors = StringIO()

    call_command("createsuperuser", interactive=True, stdin=_TTY(), stdout=StringIO(), stderr=errors)

    assert "too short" in errors.getvalue()
    assert User.objects.get(username="root").check_password(GOOD)


def test_the_demos_generated_passwords_meet_the_rules(tmp_path: Path) -> None:
    demo = User(username="demo", email="demo@example.com", first_name="Demo")
    for name in ("demo_password", "caldav_password", "exchange_password"):
        validate_password(stored_secret(tmp_path, name), user=demo)
