"""Settings > Workspace in headless Chromium: an admin invites a user, who sets a password through the
link and lands on the dashboard. Screenshots go to YOYAKU_SCREENSHOT_DIR when set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from tests.factories import make_host, send_queued_mail
from tests.web.test_host_pages_browser import new_page, sign_in
from yoyaku.accounts.models import InboxConnection, Provider, User, WorkspaceRole
from yoyaku.accounts.services import assign_seat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_invites_a_user_who_sets_a_password(browser: Any, live_server: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    admin = make_host("hana", email="hana@example.org", role=WorkspaceRole.ADMIN)
    ken = make_host("ken", email="ken@example.org", workspace=admin.workspace)
    assign_seat(workspace=admin.workspace, user=ken, hub="sales", tier="professional")
    InboxConnection.objects.create(user=ken, email="support@example.org", provider=Provider.GOOGLE)

    page = new_page(browser)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/settings/api-keys/")
    page.get_by_role("link", name="Workspace").click()
    expect(page.locator("#member-" + str(ken.pk))).to_contain_text("Sales · Professional")
    page.get_by_label("Email address").fill("mia@example.org")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".message.success")).to_have_text("Invitation sent to mia@example.org.")
    mia = User.objects.get(email="mia@example.org")
    expect(page.locator(f"#member-{mia.pk}")).to_contain_text("Invited")
    page.screenshot(path=str(shots / "settings-workspace-en.png"), full_page=True)

    send_queued_mail()
    [invitation] = mail.outbox
    link = re.search(r"/accounts/invitation/\S+/", invitation.body)
    assert link is not None
    newcomer = new_page(browser)
    newcomer.goto(live_server.url + link.group(0))
    newcomer.get_by_label("New password", exact=True).fill("a-long-Passphrase-42")
    newcomer.get_by_label("New password confirmation").fill("a-long-Passphrase-42")
    newcomer.screenshot(path=str(shots / "invitation-set-password-en.png"), full_page=True)
    newcomer.get_by_role("button", name="Set password and sign in").click()
    newcomer.wait_for_url(f"{live_server.url}/dashboard/")
    expect(newcomer.locator(".message.success")).to_contain_text("Welcome to Yoyaku")
