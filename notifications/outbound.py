"""Where the server itself may post: the rules against server-side request forgery (SSRF).

A Web Push subscription is a URL chosen by the user's browser, or by anyone with an account. Posting to it
unchecked would let a user make the worker POST to internal addresses (and learn from the device turning inactive
which of them exist). An endpoint must be https, on a push-service host of WEBPUSH_ALLOWED_HOSTS, not an IP literal,
and resolve to public addresses only; redirects are never followed (webpush.py). WEBPUSH_TRUSTED_ORIGINS lists
exact origins exempt from these rules (a self-hosted push service; the tests' loopback receiver), empty by default.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeEndpoint(ValueError):
    """The URL is not one the server may post to (the message says why, without the URL's secret path)."""


def _host_allowed(host: str) -> bool:
    for pattern in settings.WEBPUSH_ALLOWED_HOSTS:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def endpoint_check(url: str, *, resolve: bool) -> None:
    """Raise UnsafeEndpoint unless the server may post to `url`. `resolve` also checks every address the host
    resolves to (at send time; registration checks the form only, without a DNS round trip)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise UnsafeEndpoint("not a URL") from None
    trusted = {origin.lower().rstrip("/") for origin in settings.WEBPUSH_TRUSTED_ORIGINS}
    if f"{parts.scheme}://{parts.netloc}".lower() in trusted:
        return
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" or not host or parts.username is not None or parts.password is not None:
        raise UnsafeEndpoint("must be an https URL")
    if _is_ip(host):
        raise UnsafeEndpoint("must name a push service, not an IP address")
    if not _host_allowed(host):
        raise UnsafeEndpoint("not a known push service")
    if resolve:
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
        except OSError:
            raise UnsafeEndpoint("the push service does not resolve") from None
        if not all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
            raise UnsafeEndpoint("the push service resolves to a private address")
