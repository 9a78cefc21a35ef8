
import apps.core.fields
import apps.outbound.auth
import hashlib
import secrets

from django.db import migrations, models


def give_inbound_tokens(apps, schema_editor):
    """Every existing data source gets its inbound URL (new ones get it when created)."""
    DataSource = apps.get_model("datasources", "DataSource")
    for datasource in DataSource.objects.filter(inbound_token_digest__isnull=True).iterator():
        token = secrets.token_urlsafe(32)
        datasource.inbound_token = token
        datasource.inbound_token_digest = hashlib.sha256(token.encode()).hexdigest()
        datasource.save(update_fields=["inbound_token", "inbound_token_digest"])


class Migration(migrations.Migration):

    dependencies = [
        ('datasources', '0002_audit_and_cache_version'),
    ]

    operations = [
        migrations.AddField(
            model_name='datasource',
            name='event_secrets',
            field=apps.core.fields.EncryptedJSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='datasource',
            name='events_config',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='datasource',
            name='inbound_token',
            field=apps.core.fields.EncryptedTextField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='datasource',
            name='inbound_token_digest',
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name='datasource',
            name='auth_mode',
            field=models.CharField(choices=apps.outbound.auth.mode_choices, default='none', max_length=40),
        ),
        migrations.RunPython(give_inbound_tokens, migrations.RunPython.noop),
    ]
