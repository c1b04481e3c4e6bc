"""Where the server itself may post: the rules against server-side request forgery (SSRF), for every outbound URL.

A Web Push subscription is a URL chosen by the user's browser, or by anyone with an account; a webhook endpoint is
a URL typed by staff. Posting to either unchecked would let someone make the worker POST to internal addresses (and
learn from the outcome which of them exist). One set of rules serves both (`OutboundRule`): the scheme, no
credentials in the URL, optionally an allow-list of hosts and no IP literals, and at send time every address the
host resolves to must be public (never loopback, private, link-local, reserved or multicast). Redirects are never
followed by the callers (webpush.py, delivery/webhooks.py); webhooks also connect to the very address checked here
(`url_check` returns it), so a DNS answer that changes between the check and the connection cannot steer the post.

Web Push: https, on a push-service host of WEBPUSH_ALLOWED_HOSTS, not an IP literal; WEBPUSH_TRUSTED_ORIGINS lists
exact origins exempt from these rules (a self-hosted push service; the tests' loopback receiver), empty by default.
Webhooks: https (WEBHOOK_REQUIRE_HTTPS), any public host or those of WEBHOOK_ALLOWED_HOSTS when set; private and
loopback addresses only when WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on (the tests' loopback receiver).
"""

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeEndpoint(ValueError):
    """The URL is not one the server may post to (the message says why, without the URL's secret path)."""


@dataclass(frozen=True)
class OutboundRule:
    what: str  # how messages name the target: "the push service", "the webhook host"
    schemes: tuple[str, ...] = ("https",)
    allowed_hosts: tuple[str, ...] = ()  # empty: any host (still public after resolution)
    allow_ip_literals: bool = False
    allow_private: bool = False
    trusted_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the resolved address, when resolved) and what to send as Host / SNI."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, at least "/"
    address: str | None  # None: not resolved (registration), or a trusted origin


def _host_allowed(host: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_public(address: str) -> bool:
    """Whether posting to this address stays on the public internet (IPv4-mapped IPv6 judged as the IPv4)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str, *, resolve: bool, rule: OutboundRule) -> Target:
    """Raise UnsafeEndpoint unless the server may post to `url` under `rule`. `resolve` also checks every address
    the host resolves to (at send time; registration checks the form only, without a DNS round trip, unless the host
    is an IP literal, which is judged at once)."""
    if not isinstance(url, str) or len(url) > 2000 or any(ord(c) < 33 for c in url):
        raise UnsafeEndpoint("not a URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeEndpoint("not a URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    trusted = {origin.lower().rstrip("/") for origin in rule.trusted_origins}
    if f"{scheme}://{parts.netloc}".lower() in trusted:
        return Target(scheme, host, port, path, None)
    if scheme not in rule.schemes or not host or parts.username is not None or parts.password is not None:
        raise UnsafeEndpoint(f"must be an {' or '.join(rule.schemes)} URL without credentials")
    literal = _ip(host)
    if literal is not None and not rule.allow_ip_literals:
        raise UnsafeEndpoint(f"must name {rule.what}, not an IP address")
    if rule.allowed_hosts and not _host_allowed(host, rule.allowed_hosts):
        raise UnsafeEndpoint(f"not an allowed host for {rule.what}")
    if literal is not None:
        if not rule.allow_private and not address_public(str(literal)):
            raise UnsafeEndpoint(f"{rule.what} is a private, loopback or link-local address")
        return Target(scheme, host, port, path, str(literal))
    if not resolve:
        return Target(scheme, host, port, path, None)
    try:
        addresses = sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})
    except (OSError, UnicodeError):
        raise UnsafeEndpoint(f"{rule.what} does not resolve") from None
    if not addresses:
        raise UnsafeEndpoint(f"{rule.what} does not resolve")
    if not rule.allow_private and not all(address_public(a) for a in addresses):
        raise UnsafeEndpoint(f"{rule.what} resolves to a private, loopback or link-local address")
    return Target(scheme, host, port, path, addresses[0])


def webpush_rule() -> OutboundRule:
    return OutboundRule(
        what="a push service",
        allowed_hosts=tuple(settings.WEBPUSH_ALLOWED_HOSTS),
        trusted_origins=tuple(settings.WEBPUSH_TRUSTED_ORIGINS),
    )


def webhook_rule() -> OutboundRule:
    return OutboundRule(
        what="the webhook host",
        schemes=("https",) if settings.WEBHOOK_REQUIRE_HTTPS else ("https", "http"),
        allowed_hosts=tuple(settings.WEBHOOK_ALLOWED_HOSTS),
        allow_ip_literals=True,  # judged by address like any resolved name
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
    )


def endpoint_check(url: str, *, resolve: bool) -> None:
    """Web Push: raise UnsafeEndpoint unless the server may post to this subscription endpoint."""
    url_check(url, resolve=resolve, rule=webpush_rule())


def webhook_url_check(url: str, *, resolve: bool) -> Target:
    """Webhooks: raise UnsafeEndpoint unless the server may post to this endpoint URL; the checked target."""
    return url_check(url, resolve=resolve, rule=webhook_rule())
