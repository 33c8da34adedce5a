from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0003_booking_calendar_retries_and_language'),
    ]

    operations = [
        migrations.AddField(
            model_name='booking',
            name='request_fingerprint',
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
