
import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('datasources', '0003_events_settings'),
        ('tenants', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='PollState',
            fields=[
                ('datasource', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='datasources.datasource')),
                ('watermark', models.CharField(blank=True, max_length=100)),
                ('boundary', models.JSONField(blank=True, default=list)),
                ('next_poll_at', models.DateTimeField(blank=True, db_index=True, null=True)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('queued_for', models.DateTimeField(blank=True, null=True)),
                ('last_polled_at', models.DateTimeField(blank=True, null=True)),
                ('last_recorded', models.PositiveIntegerField(default=0)),
                ('last_error', models.CharField(blank=True, max_length=500)),
            ],
        ),
        migrations.CreateModel(
            name='Event',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('source', models.CharField(choices=[('webhook', 'Webhook'), ('poll', 'Poll'), ('bulk', 'Bulk job'), ('test', 'Test event')], max_length=10)),
                ('status', models.CharField(choices=[('recorded', 'Recorded'), ('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed')], max_length=10)),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('content_type', models.CharField(blank=True, max_length=200)),
                ('body', models.BinaryField()),
                ('body_size', models.PositiveIntegerField(default=0)),
                ('preview', models.TextField(blank=True)),
                ('dedup_key', models.CharField(blank=True, max_length=200, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('retries_used', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('queued_for', models.DateTimeField(blank=True, null=True)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('datasource', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='datasources.datasource')),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
            ],
            options={
                'ordering': ['-received_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempt', models.PositiveIntegerField()),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('ok', models.BooleanField(default=False)),
                ('error', models.CharField(blank=True, max_length=500)),
                ('elapsed_ms', models.FloatField(default=0)),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='events.event')),
            ],
            options={
                'ordering': ['event', 'attempt'],
            },
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['datasource', '-received_at'], name='event_log'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['received_at'], name='event_age'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='event_due'),
        ),
        migrations.AddConstraint(
            model_name='event',
            constraint=models.UniqueConstraint(condition=models.Q(('dedup_key__isnull', False)), fields=('datasource', 'dedup_key'), name='event_recorded_once'),
        ),
        migrations.AddConstraint(
            model_name='deliveryattempt',
            constraint=models.UniqueConstraint(fields=('event', 'attempt'), name='attempt_numbered_once'),
        ),
    ]
