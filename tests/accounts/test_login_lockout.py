"""Sign-in rate limit (django-axes): a username and an address are each locked after too many failures."""

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins"


def sign_in(
    client: Client, username: str, password: str, *, path: str = "/accounts/login/", ip: str = "10.0.0.1"
) -> Any:
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int, **kwargs: Any) -> None:
    for _ in range(times):
        response = sign_in(client, username, "wrong-password", **kwargs)
        assert response.status_code in (200, 429)


def test_it_refuses_even_the_right_password_after_too_many_failures(client: Client, alice: Any, settings: Any) -> None:
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    response = sign_in(client, "alice", "password-alice")
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert f"{settings.AXES_COOLOFF_TIME.total_seconds() / 60:.0f} minutes" in page
    assert '<form method="post"' in page  # the sign-in page, not a bare error page
    assert "_auth_user_id" not in client.session


def test_a_locked_username_is_locked_from_every_address(client: Client, alice: Any, settings: Any) -> None:
    fail(client, "alice", settings.AXES_FAILURE_LIMIT, ip="10.0.0.1")
    response = sign_in(Client(), "alice", "password-alice", ip="10.9.9.9")
    assert response.status_code == 429


def test_an_address_is_locked_after_failures_across_usernames(
    client: Client, alice: Any, bob: Any, settings: Any
) -> None:
    for number in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, f"guess{number}", "wrong-password", ip="10.0.0.7")
    assert sign_in(Client(), "bob", "password-bob", ip="10.0.0.7").status_code == 429
    # Another user from another address is unaffected.
    response = sign_in(Client(), "bob", "password-bob", ip="10.0.0.8")
    assert response.status_code == 302


def test_fewer_failures_than_the_limit_still_sign_in(client: Client, alice: Any, settings: Any) -> None:
    fail(client, "alice", settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in(client, "alice", "password-alice").status_code == 302


def test_the_admin_login_is_limited_too(client: Client, settings: Any) -> None:
    from django.contrib.auth.models import User

    User.objects.create_superuser(username="root", password="password-root")
    fail(client, "root", settings.AXES_FAILURE_LIMIT, path="/admin/login/")
    response = sign_in(client, "root", "password-root", path="/admin/login/")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_admin_unlocks_a_username_with_axes_reset(client: Client, alice: Any, settings: Any) -> None:
    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, "alice", "password-alice").status_code == 429
    call_command("axes_reset_username", "alice")
    assert sign_in(client, "alice", "password-alice").status_code == 302


def test_the_lock_ends_after_the_cool_off(client: Client, alice: Any, settings: Any) -> None:
    from datetime import timedelta

    from axes.models import AccessAttempt

    fail(client, "alice", settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, "alice", "password-alice").status_code == 429
    # The failures happened longer ago than the cool-off.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert sign_in(client, "alice", "password-alice").status_code == 302
