from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("scheduling", "0100_booking_request_fingerprint"),
    ]

    operations = [
        migrations.AddField(
            model_name="reservation",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="booking",
            name="cancel_reason",
            field=models.TextField(blank=True),
        ),
    ]
