"""Settings > Profile: name, zone, language, password, photo (checked, re-encoded, served safely)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.factories import make_link
from yoyaku.accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def profile_form(**change: Any) -> dict[str, Any]:
    return {
        "first_name": "Hana",
        "last_name": "Sato",
        "time_zone": "America/St_Johns",
        "language": "ja",
        **change,
    }


def test_name_zone_and_language_are_saved(host: User, client_in: Client) -> None:
    response = client_in.post("/settings/profile/", profile_form())
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "ja"
    # Saving again without changing the language leaves the browser's choice alone.
    again = client_in.post("/settings/profile/", profile_form())
    assert "django_language" not in again.cookies
    host.refresh_from_db()
    assert (host.first_name, host.last_name, host.time_zone, host.language) == (
        "Hana",
        "Sato",
        "America/St_Johns",
        "ja",
    )
    page = client_in.get("/settings/profile/").content.decode()
    # Every IANA zone is offered, not a short list.
    assert page.count("<option value=") > 400


def test_a_photo_is_checked_re_encoded_and_served_as_an_image(
    host: User, client_in: Client, media: Path
) -> None:
    make_link(host, slug="intro")
    upload = SimpleUploadedFile("me.png", png(), content_type="image/png")
    assert client_in.post("/settings/profile/", profile_form(photo=upload)).status_code == 302
    host.refresh_from_db()
    stored = media / "photos" / host.photo
    assert stored.suffix == ".jpg" and stored.is_file()
    with Image.open(stored) as image:
        assert (image.format, image.size) == ("JPEG", (256, 256))
    served = Client().get("/m/intro/photo")
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in served["Content-Security-Policy"]
    # Removing it goes back to the initials, and the file is gone.
    client_in.post("/settings/profile/", profile_form(remove_photo="on"))
    assert not stored.exists()
    initials = Client().get("/m/intro/photo")
    assert initials["Content-Type"] == "image/svg+xml"
    assert ">HS</text>" in initials.content.decode()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("evil.png", b"<html><script>alert(1)</script></html>"),
        ("huge.png", png((5000, 10))),
        ("fake.jpg", b"\xff\xd8\xff\xe0" + b"0" * 100),
    ],
)
def test_what_is_not_a_reasonable_image_is_refused(
    host: User, client_in: Client, media: Path, name: str, content: bytes
) -> None:
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    response = client_in.post("/settings/profile/", profile_form(photo=upload))
    assert response.status_code == 422
    assert "The photo must be a PNG, JPEG, WebP or GIF image" in response.content.decode()
    host.refresh_from_db()
    assert host.photo == ""
    # Nothing else of the form was saved either.
    assert (host.language, host.time_zone) == ("en", "Asia/Tokyo")
    assert not (media / "photos").exists() or not any((media / "photos").iterdir())


def test_a_photo_over_the_size_limit_is_refused(host: User, client_in: Client, settings: Any) -> None:
    settings.YOYAKU_PHOTO_MAX_BYTES = 100
    upload = SimpleUploadedFile("me.png", png(), content_type="image/png")
    response = client_in.post("/settings/profile/", profile_form(photo=upload))
    assert response.status_code == 422
    assert "larger than" in response.content.decode()


def test_the_password_is_changed_and_the_host_stays_signed_in(host: User, client_in: Client) -> None:
    wrong = client_in.post(
        "/settings/profile/password/",
        {
            "old_password": "nope",
            "new_password1": "a-long-new-pass-42",
            "new_password2": "a-long-new-pass-42",
        },
    )
    assert wrong.status_code == 422
    changed = client_in.post(
        "/settings/profile/password/",
        {
            "old_password": "pw-hana",
            "new_password1": "a-long-new-pass-42",
            "new_password2": "a-long-new-pass-42",
        },
    )
    assert changed.status_code == 302
    host.refresh_from_db()
    assert host.check_password("a-long-new-pass-42")
    assert client_in.get("/dashboard/").status_code == 200


def test_japanese_initials_are_the_family_names_first_character(host: User, client_in: Client) -> None:
    client_in.post("/settings/profile/", profile_form(first_name="花子", last_name="山田"))
    assert ">山</text>" in client_in.get("/settings/profile/photo/").content.decode()
