"""Workspaces: every user belongs to exactly one, and seats belong to one.

Existing users and seats go into one workspace; the first superuser (or, without one,
the first staff user) becomes its admin.
"""

import django.db.models.deletion
from django.db import migrations, models

import yoyaku.accounts.models


def into_one_workspace(apps, schema_editor):
    Workspace = apps.get_model("accounts", "Workspace")
    User = apps.get_model("accounts", "User")
    Seat = apps.get_model("accounts", "Seat")
    if not User.objects.exists() and not Seat.objects.exists():
        return
    workspace = Workspace.objects.order_by("pk").first() or Workspace.objects.create(name="Default")
    User.objects.filter(workspace__isnull=True).update(workspace=workspace)
    Seat.objects.filter(workspace__isnull=True).update(workspace=workspace)
    admin = (
        User.objects.filter(is_superuser=True).order_by("pk").first()
        or User.objects.filter(is_staff=True).order_by("pk").first()
    )
    if admin is not None:
        User.objects.filter(pk=admin.pk).update(workspace_role="admin")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Workspace",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.AlterModelManagers(
            name="user",
            managers=[
                ("objects", yoyaku.accounts.models.WorkspaceUserManager()),
            ],
        ),
        migrations.AddField(
            model_name="user",
            name="workspace",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="users",
                to="accounts.workspace",
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="workspace_role",
            field=models.CharField(
                choices=[("admin", "Admin"), ("member", "Member")], default="member", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="seat",
            name="workspace",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="seats",
                to="accounts.workspace",
            ),
        ),
        migrations.RunPython(into_one_workspace, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="workspace",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="users", to="accounts.workspace"
            ),
        ),
        migrations.AlterField(
            model_name="seat",
            name="workspace",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="seats", to="accounts.workspace"
            ),
        ),
    ]
