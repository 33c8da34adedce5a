"""The migration that brings workspaces: an instance's existing users, seats, contacts and meetings all go
into one workspace, whose admin is the first superuser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

BEFORE = [("accounts", "0001_initial"), ("crm", "0001_initial")]
AFTER = [("accounts", "0002_workspaces"), ("crm", "0002_workspaces")]


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema() -> Iterator[None]:
    # Later tests share this database: leave it at every app's newest migration, not at AFTER.
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_rows_go_into_one_workspace_led_by_the_first_superuser() -> None:
    old = migrate(BEFORE).loader.project_state(BEFORE).apps
    User = old.get_model("accounts", "User")
    User.objects.create(username="staff", is_staff=True)
    User.objects.create(username="root", is_staff=True, is_superuser=True)
    hana = User.objects.create(username="hana")
    old.get_model("accounts", "Seat").objects.create(hub="sales", tier="starter", user=hana)
    Contact = old.get_model("crm", "Contact")
    owned = Contact.objects.create(email="a@example.com", owner=hana)
    orphan = Contact.objects.create(email="b@example.com")
    meeting = old.get_model("crm", "Meeting").objects.create(
        title="Intro",
        start=datetime(2027, 1, 4, 9, tzinfo=UTC),
        end=datetime(2027, 1, 4, 10, tzinfo=UTC),
        source="booking",
    )
    meeting.hosts.set([hana])

    new = migrate(AFTER).loader.project_state(AFTER).apps

    [workspace] = new.get_model("accounts", "Workspace").objects.all()
    users = {u.username: u for u in new.get_model("accounts", "User").objects.all()}
    assert {u.workspace_id for u in users.values()} == {workspace.pk}
    assert {name: u.workspace_role for name, u in users.items()} == {
        "staff": "member",
        "root": "admin",
        "hana": "member",
    }
    assert new.get_model("accounts", "Seat").objects.get().workspace_id == workspace.pk
    NewContact = new.get_model("crm", "Contact")
    assert {c.pk: c.workspace_id for c in NewContact.objects.all()} == {
        owned.pk: workspace.pk,
        orphan.pk: workspace.pk,
    }
    assert new.get_model("crm", "Meeting").objects.get().workspace_id == workspace.pk
