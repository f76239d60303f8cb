from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts.models import Membership


@pytest.mark.django_db
def test_it_creates_the_first_admin_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_ADMIN_USER", "root")
    monkeypatch.delenv("ENGRAM_ADMIN_PASSWORD", raising=False)
    out = StringIO()
    call_command("bootstrap_admin", "--migrate", stdout=out)
    password = out.getvalue().strip().splitlines()[-1].rsplit(" ", 1)[-1]
    admin = User.objects.get(username="root")
    assert admin.is_staff and admin.check_password(password)
    assert admin.membership.role == Membership.Role.OWNER

    again = StringIO()
    call_command("bootstrap_admin", stdout=again)
    assert again.getvalue() == ""
    assert User.objects.count() == 1
