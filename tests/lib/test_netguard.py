"""lib.netguard: the addresses a member's URL may not reach unless the operator allows private addresses."""

import pytest

from lib.netguard import AddressRefused, check_url, url_host

SETTING = "ENGRAM_TEST_ALLOW"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/mcp",
        "http://localhost/mcp",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
    ],
)
def test_it_refuses_private_loopback_and_reserved_addresses(url: str) -> None:
    with pytest.raises(AddressRefused) as caught:
        check_url(url, allow_private=False, setting=SETTING)
    assert SETTING in str(caught.value)
    check_url(url, allow_private=True, setting=SETTING)  # the operator's choice


def test_it_accepts_a_public_address() -> None:
    check_url("https://1.1.1.1/mcp", allow_private=False, setting=SETTING)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("http:///nohost", "must name a host"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_a_malformed_url_is_refused_even_when_private_addresses_are_allowed(url: str, reason: str) -> None:
    with pytest.raises(AddressRefused) as caught:
        url_host(url)
    assert reason in str(caught.value)
    with pytest.raises(AddressRefused):
        check_url(url, allow_private=True, setting=SETTING)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(AddressRefused) as caught:
        check_url("http://no-such-host.invalid/", allow_private=False, setting=SETTING)
    assert "cannot be resolved" in str(caught.value)
