"""The abuse-limit counters, and the table of Django's database cache (the cache of a deployment
without Redis, shared by every process, unlike the per-process memory cache)."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations, models

CACHE_TABLE = "yoyaku_cache"  # settings.CACHES["default"]["LOCATION"] without Redis


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    # Created whatever CACHES says today, so a deployment that drops Redis later finds it there.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="LimitCounter",
            fields=[
                ("name", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("count", models.IntegerField()),
                ("window_ends", models.FloatField(db_index=True)),
            ],
            options={"db_table": "web_limitcounter"},
        ),
        migrations.RunPython(create_cache_table, drop_cache_table),
    ]
