"""Van costs are versioned by django-simple-history like every other setting (they were versioned in
the event log). Each van's costs in force now become its first version, so the values before any
later edit can be rolled back to."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


def first_versions(apps, schema_editor):
    from django.utils import timezone

    Vehicle = apps.get_model("dispatch", "Vehicle")
    HistoricalVehicle = apps.get_model("dispatch", "HistoricalVehicle")
    now = timezone.now()
    HistoricalVehicle.objects.bulk_create([
        HistoricalVehicle(id=v.id, code=v.code, cost_per_km=v.cost_per_km, cost_per_hour=v.cost_per_hour, fixed_cost=v.fixed_cost,
                          history_date=now, history_type="+", history_change_reason="in force when versioning began")
        for v in Vehicle.objects.all().iterator()], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0028_stop_open_by_route'),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalVehicle',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('code', models.CharField(max_length=40)),
                ('cost_per_km', models.FloatField(default=0.55)),
                ('cost_per_hour', models.FloatField(default=24.0)),
                ('fixed_cost', models.FloatField(default=0.0)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical vehicle',
                'verbose_name_plural': 'historical vehicles',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RunPython(first_versions, migrations.RunPython.noop),
    ]
