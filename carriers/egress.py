"""Where the product may send a request. Subscriber webhooks and admin-configured carrier
endpoints are URLs a tenant chose, so each is checked before every call: http(s) only, and every
address the host resolves to must be public, unless it lies in OUTBOUND_ALLOWED_NETWORKS (a
self-hosted install that runs its own receivers inside opts in there). Redirects are never
followed, so a public URL cannot hand the request to a private one."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings


class UnsafeURL(ValueError):
    """The URL may not be called; the message says why in words a person can act on."""


def _allowed_networks() -> list[ipaddress._BaseNetwork]:
    nets = []
    for entry in settings.OUTBOUND_ALLOWED_NETWORKS:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return nets


def _public(ip: ipaddress._BaseAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[ipaddress._BaseAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"The host {host!r} does not resolve ({exc}).") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(url: str) -> None:
    """Raises UnsafeURL unless every address behind the URL may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("Only http and https URLs can be called.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("Put credentials in the secret or the auth settings, not in the URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("The URL's port is not a number from 1 to 65535.") from None
    allowed = _allowed_networks()
    for ip in resolve(parts.hostname, port):
        if any(ip in net for net in allowed):
            continue
        if not _public(ip):
            raise UnsafeURL(
                f"{parts.hostname} resolves to {ip}, a private, loopback or link-local address; the product does not "
                "call those unless an operator lists the network in OUTBOUND_ALLOWED_NETWORKS."
            )


def request(method: str, url: str, **kwargs) -> httpx.Response:
    """An outbound request to a checked URL, never following a redirect."""
    check_url(url)
    return httpx.request(method, url, follow_redirects=False, **kwargs)
