"""A user's own profile: name, time zone, language and photo."""

from __future__ import annotations

import secrets
from io import BytesIO
from pathlib import Path
from typing import IO
from zoneinfo import available_timezones

from django.conf import settings
from django.utils.translation import gettext
from PIL import Image, ImageOps, UnidentifiedImageError

from yoyaku.accounts.models import User

# Formats a photo may arrive in (checked by decoding, not by its name or declared type).
PHOTO_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
MAX_PHOTO_SIDE = 4096  # pixels; larger images are refused before they are decoded
PHOTO_SIZE = 256  # stored as a square of this side, JPEG


class ProfileRefused(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def photos_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "photos"


def update_profile(*, user: User, first_name: str, last_name: str, time_zone: str, language: str) -> User:
    errors: dict[str, str] = {}
    if time_zone not in available_timezones():
        errors["time_zone"] = gettext("Choose a time zone from the list.")
    if language not in dict(settings.LANGUAGES):
        errors["language"] = gettext("Choose English or Japanese.")
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > 150 or any(c in value for c in "<>") or any(ord(c) < 32 for c in value):
            errors[field] = gettext("Names are at most 150 characters, without < or >.")
    if errors:
        raise ProfileRefused(errors)
    user.first_name, user.last_name = first_name.strip(), last_name.strip()
    user.time_zone, user.language = time_zone, language
    user.save(update_fields=["first_name", "last_name", "time_zone", "language"])
    return user


def _refused() -> ProfileRefused:
    return ProfileRefused(
        {"photo": gettext("The photo must be a PNG, JPEG, WebP or GIF image of at most 4096 by 4096 pixels.")}
    )


def set_photo(*, user: User, upload: IO[bytes], size: int) -> User:
    """Check an uploaded photo by decoding it, and keep a re-encoded square JPEG of it.

    Re-encoding drops whatever else the file carried (metadata, a second format hidden in it), so
    what is served is only pixels, whatever was uploaded.
    """
    limit = settings.YOYAKU_PHOTO_MAX_BYTES
    if size > limit:
        raise ProfileRefused(
            {"photo": gettext("The photo is larger than %(size)d MB.") % {"size": max(1, limit // 1_000_000)}}
        )
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ProfileRefused(
            {"photo": gettext("The photo is larger than %(size)d MB.") % {"size": max(1, limit // 1_000_000)}}
        )
    try:
        with Image.open(BytesIO(data)) as probe:
            if probe.format not in PHOTO_FORMATS:
                raise _refused()
            if probe.width > MAX_PHOTO_SIDE or probe.height > MAX_PHOTO_SIDE:
                raise _refused()
            probe.verify()
        with Image.open(BytesIO(data)) as image:
            image.seek(0)
            upright = ImageOps.exif_transpose(image) or image
            square = ImageOps.fit(upright.convert("RGB"), (PHOTO_SIZE, PHOTO_SIZE))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        if isinstance(error, ProfileRefused):
            raise
        raise _refused() from error
    folder = photos_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.jpg"
    partial = folder / f".{name}.part"
    square.save(partial, format="JPEG", quality=88)
    partial.replace(folder / name)
    old = user.photo
    user.photo = name
    user.save(update_fields=["photo"])
    _remove_file(old)
    return user


def remove_photo(*, user: User) -> User:
    old = user.photo
    user.photo = ""
    user.save(update_fields=["photo"])
    _remove_file(old)
    return user


def _remove_file(name: str) -> None:
    if name and "/" not in name and not name.startswith("."):
        (photos_dir() / name).unlink(missing_ok=True)


def photo_path(*, user: User) -> Path | None:
    if not user.photo or "/" in user.photo or user.photo.startswith("."):
        return None
    path = photos_dir() / user.photo
    return path if path.is_file() else None


def initials(*, user: User) -> str:
    """What the booking page shows without a photo: 'HS' for Hana Sato, '山' for 山田 花子."""
    first, last = user.first_name.strip(), user.last_name.strip()
    if last and not last[0].isascii():
        # Japanese (and other CJK) names: the family name's first character alone.
        return last[0]
    letters = (first[:1] + last[:1]) or user.username[:1]
    return letters.upper()
