"""What the benchmarks that call the services directly share: a scratch database and a host."""

from __future__ import annotations

import os
import tempfile
from typing import Any


def scratch_django(*, prefix: str) -> None:
    """Set Django up on a SQLite database in a new temporary folder, migrated."""
    os.environ["YOYAKU_DATA_DIR"] = tempfile.mkdtemp(prefix=prefix)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yoyaku.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def bench_host(*, provider: str, **connection_fields: Any) -> tuple[Any, Any, Any]:
    """A workspace, its host ``bench`` and the host's calendar connection of ``provider``."""
    from yoyaku.accounts.models import CalendarConnection, Workspace
    from yoyaku.accounts.services import create_user

    workspace = Workspace.objects.create(name="bench")
    user = create_user(username="bench", workspace=workspace, email="host@example.com")
    connection = CalendarConnection.objects.create(
        user=user, provider=provider, account_email=user.email, **connection_fields
    )
    return workspace, user, connection
