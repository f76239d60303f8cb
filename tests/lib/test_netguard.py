import pytest

from lib.netguard import AddressRefused, check_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_non_public_addresses_are_refused(url):
    with pytest.raises(AddressRefused):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.org/", "file:///etc/passwd", "http:///nohost", "gopher://x/"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(AddressRefused):
        check_url(url, allow_private=True)


def test_a_public_address_passes():
    check_url("http://93.184.215.14/", allow_private=False)
