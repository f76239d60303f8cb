"""The members page in Chromium: roles change in place, a refused change shows its reason in place (htmx swaps
no 4xx unless ade.js says so), removal asks first. Sign-in lockout shows its message on the sign-in page."""

import re
from typing import Any

import pytest
from django.conf import settings

from accounts.models import Membership
from tests.live import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_an_owner_manages_members_in_place(daphne_server: LiveServer, page: Any, alice: Any, bob: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, daphne_server, "alice", "password-alice")
    page.goto(f"{daphne_server.url}/members/")

    page.select_option("select[aria-label='Role of bob']", "admin")
    page.locator("tr", has_text="bob").get_by_role("button", name="Change").click()
    page.wait_for_selector("select[aria-label='Role of bob'] option[value=admin][selected]", state="attached")
    assert Membership.objects.get(user=bob).role == "admin"

    # The last owner cannot step down: the reason appears in place and nothing changes.
    page.select_option("select[aria-label='Role of alice']", "member")
    page.locator("tr", has_text="alice").get_by_role("button", name="Change").click()
    page.wait_for_selector("#member-list .error:has-text('at least one owner')")
    screenshot(page, "members-last-owner")
    assert Membership.objects.get(user=alice).role == "owner"

    page.locator("tr", has_text="bob").get_by_role("button", name="Remove").click()
    page.wait_for_selector("select[aria-label='Role of bob']", state="detached")
    bob.refresh_from_db()
    assert not bob.is_active


def test_a_locked_out_sign_in_says_why(daphne_server: LiveServer, page: Any, alice: Any) -> None:
    page.goto(f"{daphne_server.url}/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "password-alice")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]:has-text('Too many failed sign-ins')")
    screenshot(page, "sign-in-locked")
    assert re.search(r"/accounts/login/", page.url)
