"""Which client a request came from: X-Forwarded-For is believed only from the trusted proxies."""

import pytest

from app.client_address import client_address, parse_trusted, throttle_key
from app.config import Settings, SettingsError, load_settings

LOOPBACK = parse_trusted('127.0.0.1,::1')
PROXIES = parse_trusted('127.0.0.1, 10.0.0.0/24')


@pytest.mark.parametrize('peer, forwarded, trusted, expected', [
    ('192.0.2.7', ['198.51.100.1'], LOOPBACK, '192.0.2.7'),  # an untrusted peer's header is ignored
    ('192.0.2.7', ['198.51.100.1'], (), '192.0.2.7'),
    ('127.0.0.1', ['198.51.100.1'], (), '127.0.0.1'),  # nothing trusted: even loopback's header is ignored
    ('127.0.0.1', ['198.51.100.1'], LOOPBACK, '198.51.100.1'),  # the sample nginx on the same machine
    ('127.0.0.1', ['6.6.6.6, 198.51.100.1'], LOOPBACK, '198.51.100.1'),  # what the client wrote itself is skipped
    ('127.0.0.1', ['6.6.6.6', '198.51.100.1'], LOOPBACK, '198.51.100.1'),  # the header sent twice
    ('127.0.0.1', ['6.6.6.6, 198.51.100.1, 10.0.0.5'], PROXIES, '198.51.100.1'),  # two proxies in a row
    ('127.0.0.1', ['10.0.0.9, 10.0.0.5'], PROXIES, '10.0.0.9'),  # every hop trusted: the farthest one
    ('127.0.0.1', [], LOOPBACK, '127.0.0.1'),
    ('127.0.0.1', ['not-an-address'], LOOPBACK, '127.0.0.1'),  # garbled: the header is not believed at all
    ('127.0.0.1', ['198.51.100.1, garbage'], LOOPBACK, '127.0.0.1'),
    ('::1', ['2001:db8::5'], LOOPBACK, '2001:db8::5'),
    ('::ffff:127.0.0.1', ['198.51.100.1'], LOOPBACK, '198.51.100.1'),  # IPv4 on an IPv6 socket
    (None, ['198.51.100.1'], LOOPBACK, 'unknown'),
    ('testclient', ['198.51.100.1'], LOOPBACK, 'unknown'),
])
def test_the_client_address(peer: str | None, forwarded: list[str], trusted: tuple, expected: str) -> None:  # type: ignore[type-arg]
    assert client_address(peer, forwarded, trusted) == expected


@pytest.mark.parametrize('address, key', [
    ('192.0.2.7', '192.0.2.7'), ('2001:db8:1:2::7', '2001:db8:1:2::/64'), ('2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'),
    ('::ffff:192.0.2.7', '192.0.2.7'), ('unknown', 'unknown'), ('', 'unknown'),
])
def test_throttling_counts_ipv6_clients_by_their_64_network(address: str, key: str) -> None:
    assert throttle_key(address) == key


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [str(n) for n in Settings().trusted_networks] == ['127.0.0.1/32', '::1/128']
    assert Settings(trusted_proxies='').trusted_networks == ()
    assert [str(n) for n in Settings(trusted_proxies=' 10.1.0.0/16 , 10.2.0.3').trusted_networks] == [
        '10.1.0.0/16', '10.2.0.3/32']
    monkeypatch.setenv('VIGIL_TRUSTED_PROXIES', '10.0.0.1,nginx.local')
    with pytest.raises(SettingsError, match=r"VIGIL_TRUSTED_PROXIES: .*'nginx\.local' is not an IP address"):
        load_settings()
