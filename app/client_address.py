"""Which address a request came from: the socket's peer, or what a trusted proxy says in X-Forwarded-For.

Hand-written rather than left to uvicorn's proxy-headers middleware alone: the sign-in page needs the same answer
under NiceGUI's simulated user (no uvicorn there), and uvicorn's trusted-host matcher is private API. main.py gives
uvicorn the same list, so both agree and the access log names the same client.
"""

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = 'unknown'
# IPv6 clients usually hold a whole /64: counting each of its addresses on its own would hand out 2**64 allowances.
IPV6_CLIENT_PREFIX = 64


def parse_trusted(value: str) -> tuple[Network, ...]:
    """Parse a comma-separated list of addresses and networks (CIDR); raise ValueError naming a bad entry."""
    networks = []
    for entry in (e.strip() for e in value.split(',')):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f'{entry!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/24, ::1)') from None
    return tuple(networks)


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip().strip('[]'))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """Return the client's address: the peer's, unless the peer is a trusted proxy, then the nearest untrusted hop.

    X-Forwarded-For lists hops left to right, each proxy appending the address it was connected from; only the
    entries appended by trusted proxies are believed, read from the right. A garbled entry where a trusted proxy
    should have written an address means the header cannot be believed: the peer's address is used then.
    """
    peer_ip = _ip(peer or '')
    if not _trusted(peer_ip, trusted):
        return str(peer_ip) if peer_ip is not None else UNKNOWN
    hops = [hop.strip() for header in forwarded_for for hop in header.split(',') if hop.strip()]
    nearest: IPAddress = peer_ip  # type: ignore[assignment]  # _trusted() is False for None
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return str(peer_ip)
        nearest = hop_ip
        if not _trusted(hop_ip, trusted):
            break
    return str(nearest)


def throttle_key(address: str) -> str:
    """Return what sign-in throttling counts an address under: itself for IPv4, its /64 network for IPv6."""
    ip = _ip(address)
    if ip is None:
        return UNKNOWN
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)
