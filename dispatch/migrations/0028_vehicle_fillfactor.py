"""Room on every page of the vehicles table for its rows' next versions.

Each ping rewrites a van's row (position, speed, heading, time): 2,000 vans pinging every 5 s is
400 row versions a second. With free space left on each page, PostgreSQL writes the new version
beside the old one without touching any index (a heap-only update) and reclaims the old one the
next time the page is read, without waiting for a vacuum. On full pages every update adds an entry
to every index and the table grows until a vacuum runs. PostgreSQL only; other databases keep
their defaults."""

from django.db import migrations


def set_fillfactor(percent):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            table = apps.get_model("dispatch", "Vehicle")._meta.db_table
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {int(percent)})")
    return apply


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0027_nearby_message")]

    operations = [migrations.RunPython(set_fillfactor(70), set_fillfactor(100))]
