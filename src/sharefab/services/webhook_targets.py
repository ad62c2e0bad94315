"""Where a webhook may be delivered: public http(s) hosts only, unless private targets are allowed.

A tenant chooses the URL, and the platform's dispatcher sends a request to it from inside
the platform's network. Without a check, ``http://169.254.169.254/...`` (cloud metadata),
``http://127.0.0.1:5432`` or ``http://10.0.0.7/admin`` would let a tenant reach services
that only the platform should (server-side request forgery).

**Rule.** The URL is ``http://`` or ``https://`` with a host name and no credentials, and
*every* address its host resolves to is a public unicast address: not loopback, private
(10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10: cloud metadata
lives there), multicast, unspecified, reserved, shared (100.64/10) or otherwise non-global;
IPv4-mapped IPv6 addresses are judged by their IPv4 address.

**When.** At registration (a clear 422 naming the host, the address and the reason) and again
before every delivery, because DNS can change after registration. The delivery then connects
to the address that was checked (the URL's host is kept in the ``Host`` header and, for
https, in the TLS server name), so a second DNS answer cannot redirect it. Redirects are
never followed.

**Setting.** ``SHAREFAB_WEBHOOK_ALLOW_PRIVATE`` (true/false) turns the address check off or
on; unset, private targets are allowed in the ``development`` and ``test`` environments (a
receiver on the developer's machine) and refused in ``production``. The scheme check always
applies.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sharefab.config import Settings, get_settings

#: ``resolve(host, port)`` -> the IP addresses (text) a connection to the host may use.
Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_SETTING = "SHAREFAB_WEBHOOK_ALLOW_PRIVATE"


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for ``host`` (in its order)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in out:
            out.append(address)
    return out


class RefusedTarget(ValueError):
    """The URL may not receive webhooks; the message says why."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Whether private destinations are allowed, and how host names are resolved."""

    allow_private: bool
    #: Default (``None``): :func:`system_resolver`.
    resolve: Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TargetPolicy:
        """The policy of ``settings`` (default: the process settings)."""
        return cls(allow_private=(settings or get_settings()).webhook_private_targets_allowed)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: the URL, its host and port, and the public address to use
    (``None`` when private targets are allowed and the host was not resolved)."""

    url: str
    host: str
    port: int
    address: str | None


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` may not receive webhooks, or ``None`` for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address.is_unspecified, "an unspecified"),
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local (cloud metadata)"),
        (address.is_multicast, "a multicast"),
        (address.is_reserved, "a reserved"),
        (address.is_private, "a private"),
        (not address.is_global, "a non-public"),
    )
    for hit, kind in checks:
        if hit:
            return f"{kind} address"
    return None


def split_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute http(s) URL; :class:`RefusedTarget` otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number or out of range, a bad IPv6 host
        raise RefusedTarget(f"is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("must be an absolute http:// or https:// URL")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_target(url: str, policy: TargetPolicy) -> Target:
    """The checked destination of ``url`` (see the module doc); :class:`RefusedTarget` with
    the reason when it may not receive webhooks."""
    _, host, port = split_url(url)
    if policy.allow_private:
        return Target(url, host, port, None)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = (policy.resolve or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise RefusedTarget(f"host {host!r} does not resolve ({exc})") from exc
        if not addresses:
            raise RefusedTarget(f"host {host!r} does not resolve")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError as exc:
            raise RefusedTarget(f"host {host!r} resolves to {text!r}, not an address") from exc
        problem = address_problem(address)
        if problem is not None:
            where = host if literal is not None else f"host {host!r} resolves to {text}, which"
            raise RefusedTarget(
                f"{where} is {problem}; webhooks are only delivered to public hosts "
                f"(an operator can allow private targets with {ALLOW_SETTING}=true)"
            )
    return Target(url, host, port, addresses[0])


def pinned_request(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """``(url, headers, extensions)`` for an httpx request that connects to the checked
    address while keeping the host name in ``Host`` and in the TLS server name."""
    if target.address is None:
        return target.url, {}, {}
    parts = urlsplit(target.url)
    ip = ipaddress.ip_address(target.address.split("%", 1)[0])
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    if parts.port is not None:
        netloc += f":{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
    return url, {"Host": host_header}, extensions
