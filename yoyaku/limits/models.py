"""Rows of the abuse limits: the counters behind ``limits/counters.py``."""

from __future__ import annotations

from django.db import models


class LimitCounter(models.Model):
    """One rate-limit or sign-in counter; written only through ``limits/counters.py``'s atomic SQL."""

    name = models.CharField(max_length=200, primary_key=True)
    count = models.IntegerField()
    # Epoch seconds: compared with time.time() in SQL, on SQLite and PostgreSQL alike.
    window_ends = models.FloatField(db_index=True)

    class Meta:
        # The table the web app created first: the model moved, the rows stay where they are.
        db_table = "web_limitcounter"

    def __str__(self) -> str:
        return f"{self.name}: {self.count}"
