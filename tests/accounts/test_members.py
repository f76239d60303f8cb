"""Account management: adding members (password rules, usernames), removing them, roles, own password."""

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import APIKey, Membership
from accounts.services import apikey_create, user_create

pytestmark = pytest.mark.django_db


GOOD_PASSWORD = "a-long-unusual-passphrase"


def add(client: Client, username: str, password: str = GOOD_PASSWORD, role: str = "member") -> Any:
    return client.post("/members/", {"username": username, "password": password, "role": role, "email": ""})


# Adding members


def test_the_add_member_form_applies_the_password_validators(client: Client, alice: Any) -> None:
    client.force_login(alice)
    response = add(client, "dora", password="password")
    assert response.status_code == 422
    assert "This password is too common." in response.content.decode()
    response = add(client, "dorothea", password="dorothea1")
    assert "too similar to the username" in response.content.decode()
    assert not User.objects.filter(username__in=["dora", "dorothea"]).exists()


def test_the_addmember_command_applies_the_password_validators(alice: Any, org_a: Any, org_b: Any) -> None:
    with pytest.raises(CommandError, match="too common"):
        call_command("addmember", "dora", "--org", "Org A", "--password", "password", stdout=StringIO())
    assert not User.objects.filter(username="dora").exists()
    out = StringIO()
    call_command("addmember", "dora", "--org", "Org A", "--password", "a-long-unusual-passphrase", stdout=out)
    assert User.objects.get(username="dora").membership.organization == org_a


def test_a_taken_username_does_not_reveal_other_organizations(
    client: Client, alice: Any, bob: Any, charlie: Any
) -> None:
    client.force_login(alice)
    other_org = add(client, "charlie").content.decode()
    unknown_reserved = "That username cannot be used"
    assert unknown_reserved in other_org
    assert "already exists" not in other_org and "Org B" not in other_org
    # A clash inside the actor's own organization may say so: they can see their own members anyway.
    own_org = add(client, "bob").content.decode()
    assert "bob is already a member of Org A" in own_org
    assert User.objects.get(username="charlie").membership.organization.name == "Org B"


# Removing members and changing roles


def test_an_owner_removes_a_member_whose_keys_and_session_stop_working(client: Client, alice: Any, bob: Any) -> None:
    bob_api = APIClient()
    bob_api.credentials(HTTP_AUTHORIZATION=f"Bearer {apikey_create(user=bob, name='k').raw_key}")
    assert bob_api.get("/v1/agents/").status_code == 200
    bob_browser = Client()
    bob_browser.force_login(bob)

    client.force_login(alice)
    assert "<td>bob</td>" in client.get("/members/").content.decode()
    response = client.post("/members/bob/remove/")
    assert response.status_code == 302
    assert "<td>bob</td>" not in client.get("/members/").content.decode()

    bob.refresh_from_db()
    assert not bob.is_active
    assert not APIKey.objects.filter(user=bob, revoked_at=None).exists()
    assert bob_api.get("/v1/agents/").status_code == 401
    assert bob_browser.get("/members/").status_code == 302  # back to the sign-in page
    # The account is kept (history still names its author), so the name stays taken.
    assert "bob was a member of Org A" in add(client, "bob").content.decode()


def test_an_owner_changes_a_role(client: Client, alice: Any, bob: Any) -> None:
    client.force_login(alice)
    response = client.post("/members/bob/role/", {"role": "admin"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert Membership.objects.get(user=bob).role == "admin"
    assert '<option value="admin" selected>Admin</option>' in response.content.decode()


def test_the_last_owner_can_be_neither_demoted_nor_removed(client: Client, alice: Any, bob: Any) -> None:
    client.force_login(alice)
    response = client.post("/members/alice/role/", {"role": "member"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(user=alice).role == "owner"

    # With a second owner, the first may step down.
    client.post("/members/bob/role/", {"role": "owner"})
    assert client.post("/members/alice/role/", {"role": "member"}).status_code == 302
    assert Membership.objects.get(user=alice).role == "member"


def test_the_last_owner_cannot_be_removed(client: Client, alice: Any, bob: Any, org_a: Any) -> None:
    admin = user_create(username="adm", password="pw-admin-long", organization=org_a, role="admin")
    client.force_login(admin)
    response = client.post("/members/alice/remove/", HTTP_HX_REQUEST="true")
    assert response.status_code in (403, 422)
    alice.refresh_from_db()
    assert alice.is_active


def test_an_admin_cannot_touch_owners_or_make_one(client: Client, alice: Any, bob: Any, org_a: Any) -> None:
    user_create(username="owner2", password="pw-owner-long", organization=org_a, role="owner")
    admin = user_create(username="adm", password="pw-admin-long", organization=org_a, role="admin")
    client.force_login(admin)
    assert client.post("/members/bob/role/", {"role": "owner"}, HTTP_HX_REQUEST="true").status_code == 403
    assert client.post("/members/owner2/remove/", HTTP_HX_REQUEST="true").status_code == 403
    assert Membership.objects.get(user=bob).role == "member"
    assert User.objects.get(username="owner2").is_active
    assert client.post("/members/bob/role/", {"role": "admin"}).status_code == 302


def test_a_member_can_neither_remove_nor_change_roles(client: Client, alice: Any, bob: Any) -> None:
    client.force_login(bob)
    assert client.post("/members/alice/remove/").status_code == 404
    assert client.post("/members/alice/role/", {"role": "member"}).status_code == 404
    alice.refresh_from_db()
    assert alice.is_active and alice.membership.role == "owner"


def test_an_outsider_gets_404_for_another_organizations_member(
    client: Client, alice: Any, bob: Any, charlie: Any
) -> None:
    client.force_login(charlie)
    assert client.post("/members/bob/remove/").status_code == 404
    assert client.post("/members/bob/role/", {"role": "admin"}).status_code == 404
    bob.refresh_from_db()
    assert bob.is_active and bob.membership.role == "member"


def test_a_bad_role_is_a_clear_4xx(client: Client, alice: Any, bob: Any) -> None:
    client.force_login(alice)
    response = client.post("/members/bob/role/", {"role": "emperor"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Role: Select a valid choice. emperor is not one of the available choices." in response.content.decode()
    assert Membership.objects.get(user=bob).role == "member"


def test_role_and_remove_need_post(client: Client, alice: Any, bob: Any) -> None:
    client.force_login(alice)
    assert client.get("/members/bob/remove/").status_code == 405
    assert client.get("/members/bob/role/").status_code == 405


# Own password


def test_a_user_changes_their_password_and_stays_signed_in(client: Client, bob: Any) -> None:
    client.force_login(bob)
    page = client.get("/account/password/")
    assert page.status_code == 200
    assert "/account/password/" in client.get("/").content.decode()  # linked from the nav
    response = client.post(
        "/account/password/",
        {
            "old_password": "password-bob",
            "new_password1": "an-even-longer-secret",
            "new_password2": "an-even-longer-secret",
        },
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password("an-even-longer-secret")
    assert client.get("/members/").status_code == 200  # the session survived


def test_a_password_change_needs_the_old_password_and_passes_the_validators(client: Client, bob: Any) -> None:
    client.force_login(bob)
    wrong_old = client.post(
        "/account/password/",
        {"old_password": "nope", "new_password1": "an-even-longer-secret", "new_password2": "an-even-longer-secret"},
    )
    assert wrong_old.status_code == 422
    assert "old password was entered incorrectly" in wrong_old.content.decode()
    common = client.post(
        "/account/password/", {"old_password": "password-bob", "new_password1": "password", "new_password2": "password"}
    )
    assert "This password is too common." in common.content.decode()
    bob.refresh_from_db()
    assert bob.check_password("password-bob")


def test_a_password_change_signs_out_other_sessions(client: Client, bob: Any) -> None:
    other = Client()
    other.force_login(bob)
    client.force_login(bob)
    client.post(
        "/account/password/",
        {
            "old_password": "password-bob",
            "new_password1": "an-even-longer-secret",
            "new_password2": "an-even-longer-secret",
        },
    )
    assert other.get("/members/").status_code == 302


def test_a_refused_addmember_leaves_no_new_organization() -> None:
    from accounts.models import Organization

    with pytest.raises(CommandError, match="too common"):
        call_command("addmember", "dora", "--org", "Fresh", "--new-org", "--password", "password", stdout=StringIO())
    assert not Organization.objects.filter(name="Fresh").exists()
