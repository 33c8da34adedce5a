"""LimitCounter now belongs to the limits app (``limits/models.py``); its table ``web_limitcounter``
stays, so the web app forgets the model in Django's state only and no row is lost."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0001_limit_counters_and_cache"),
        ("limits", "0001_limit_counter_from_web"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="LimitCounter")],
            database_operations=[],
        ),
    ]
