"""LimitCounter moves here from the web app, which made its table ``web_limitcounter``: this app takes
the model over in Django's state only, and the table and its rows stay as they are."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    # The table is made by web's first migration (on a new database too).
    dependencies = [("web", "0001_limit_counters_and_cache")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LimitCounter",
                    fields=[
                        ("name", models.CharField(max_length=200, primary_key=True, serialize=False)),
                        ("count", models.IntegerField()),
                        ("window_ends", models.FloatField(db_index=True)),
                    ],
                    options={"db_table": "web_limitcounter"},
                ),
            ],
            database_operations=[],
        ),
    ]
