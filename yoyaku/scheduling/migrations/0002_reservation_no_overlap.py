"""On PostgreSQL the database itself refuses overlapping reservations of one host.

An exclusion constraint over (host, tstzrange(start, end)) for active rows:
btree_gist lets the GiST index compare the host id with =, and && is range
overlap. Ranges are half-open '[)', so back-to-back meetings are allowed.
SQLite has no such constraint; there bookings serialise on the write lock.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE scheduling_reservation ADD CONSTRAINT reservation_no_overlap
    EXCLUDE USING gist (host_id WITH =, tstzrange("start", "end", '[)') WITH &&)
    WHERE (active);
"""
DROP = "ALTER TABLE scheduling_reservation DROP CONSTRAINT IF EXISTS reservation_no_overlap;"


def _run(sql: str):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]
    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
