"""Contacts and meetings belong to a workspace; a contact's email is unique within its workspace."""

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models


def into_workspaces(apps, schema_editor):
    Workspace = apps.get_model("accounts", "Workspace")
    Contact = apps.get_model("crm", "Contact")
    Meeting = apps.get_model("crm", "Meeting")
    if not Contact.objects.exists() and not Meeting.objects.exists():
        return
    fallback = Workspace.objects.order_by("pk").first() or Workspace.objects.create(name="Default")
    for contact in Contact.objects.filter(workspace__isnull=True).select_related("owner"):
        contact.workspace_id = contact.owner.workspace_id if contact.owner_id else fallback.pk
        contact.save(update_fields=["workspace"])
    for meeting in Meeting.objects.filter(workspace__isnull=True):
        host = meeting.hosts.order_by("pk").first()
        meeting.workspace_id = host.workspace_id if host is not None else fallback.pk
        meeting.save(update_fields=["workspace"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_workspaces"),
        ("crm", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="workspace",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contacts",
                to="accounts.workspace",
            ),
        ),
        migrations.AddField(
            model_name="meeting",
            name="workspace",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="meetings",
                to="accounts.workspace",
            ),
        ),
        migrations.RunPython(into_workspaces, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="contact",
            name="workspace",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="contacts", to="accounts.workspace"
            ),
        ),
        migrations.AlterField(
            model_name="meeting",
            name="workspace",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="meetings", to="accounts.workspace"
            ),
        ),
        migrations.RemoveConstraint(
            model_name="contact",
            name="contact_email_unique_ci",
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                models.F("workspace"),
                django.db.models.functions.text.Lower("email"),
                name="contact_email_unique_ci_per_workspace",
            ),
        ),
    ]
