from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0102_meetinglink_rolling_days"),
    ]

    operations = [
        migrations.AddField(
            model_name="meetinglink",
            name="change_notice_minutes",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
