"""Alert webhooks: where they may go, and the one POST that tells them.

The server POSTs alert events to a URL from the rules file; that must not let a
rules file (or a DNS record) turn the monitor into a way into the machine's
network. So:

- only hosts the rules file allows get a webhook (`webhook_allow:`): exact host
  names, IP addresses and CIDR networks, e.g. ``[hooks.example.com, 10.0.0.0/8,
  127.0.0.1]``; no wildcards;
- an allowed *name* reaches only public (globally routable) addresses; a
  loopback, private or otherwise special address must be allowed by address or
  network itself, so a name that starts resolving to ``127.0.0.1`` is refused;
- link-local addresses (``169.254.0.0/16``, ``fe80::/10``), cloud metadata
  addresses, unspecified, multicast and broadcast addresses are refused always,
  whatever the allow-list says; an IPv4-mapped IPv6 address counts as its IPv4;
- an IP address must be written in its standard form: decimal (``2130706433``),
  hex (``0x7f000001``), octal (``0177.0.0.1``) and short (``127.1``) forms are
  refused rather than guessed at;
- the name is resolved once, every address it resolves to is checked, and the
  request connects to the first of them (the Host header and TLS SNI and
  certificate check keep the name), so a second, different DNS answer cannot
  redirect it; no proxy from the environment is used;
- redirects are never followed: a 3xx answer is a failed delivery.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from modelward.errors import InvalidInput

if TYPE_CHECKING:  # imported when a webhook is sent: reading rules needs none of it
    import httpx

__all__ = [
    "RETRY_DELAYS",
    "WebhookAllow",
    "WebhookResult",
    "check_webhook_url",
    "send_webhook",
]

RETRY_DELAYS = (0.2, 0.5)
"""Pauses before the (at most two) webhook retries."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

_ALWAYS_REFUSED: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
        ("fd00:ec2::254/128", "a cloud metadata address"),
        ("100.100.100.200/32", "a cloud metadata address"),
        ("168.63.129.16/32", "a cloud platform address"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("255.255.255.255/32", "broadcast"),
    )
)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class Notification(Protocol):
    """What a webhook is told: anything with a JSON-ready `to_dict` (an AlertEvent)."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class WebhookAllow:
    """The hosts and networks webhooks may reach (see the module docstring)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: object) -> WebhookAllow:
        """Read `webhook_allow:`: a list of host names, IP addresses and CIDR networks."""
        if entries is None:
            return cls()
        if isinstance(entries, str) or not isinstance(entries, list | tuple):
            raise InvalidInput(
                "'webhook_allow' is a list of hosts, addresses or networks, "
                "e.g. [hooks.example.com, 10.0.0.0/8]"
            )
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip():
                raise InvalidInput(f"'webhook_allow': {entry!r:.60} is not a host or a network")
            text = entry.strip().lower()
            network = _as_network(text)
            if network is None:
                hosts.add(_host_name(text))
                continue
            for refused, why in _ALWAYS_REFUSED:
                if network.version == refused.version and network.subnet_of(refused):  # type: ignore[arg-type]
                    raise InvalidInput(
                        f"'webhook_allow': {entry} is {why}, where webhooks never go"
                    )
            networks.append(network)
        return cls(frozenset(hosts), tuple(networks))

    def to_list(self) -> list[str]:
        """The entries as written back (names, then networks)."""
        return [*sorted(self.hosts), *(str(network) for network in self.networks)]

    def allows_host(self, host: str) -> bool:
        """Whether the URL's host is allowed as written (a name, or an address in a network)."""
        address = _literal_address(host)
        if address is None:
            return host.rstrip(".") in self.hosts
        return self._covers(address)

    def refusal(self, host: str, address: Address) -> str | None:
        """Why `address` (which `host` resolved to) may not be reached; None when it may."""
        address = _unmapped(address)
        for refused, why in _ALWAYS_REFUSED:
            if address.version == refused.version and address in refused:
                return f"{address} is {why}: webhooks never go there"
        if self._covers(address):
            return None
        if _literal_address(host) is None and host.rstrip(".") in self.hosts:
            if address.is_global:
                return None
            return (
                f"{host} resolves to {address}, a {_kind(address)} address: allow that "
                f"address itself (webhook_allow: [{address}]) if it is meant"
            )
        return f"{host} is not in webhook_allow"

    def _covers(self, address: Address) -> bool:
        address = _unmapped(address)
        return any(
            address.version == network.version and address in network for network in self.networks
        )


@dataclass(frozen=True)
class WebhookResult:
    """How a webhook delivery went: ok on a 2xx answer, else the last status or error.

    `address` is the IP address the request went to (None when none was tried)."""

    ok: bool
    status_code: int | None
    error: str | None
    attempts: int
    address: str | None = None


def check_webhook_url(url: object) -> str:
    """The URL if it is an http(s) URL with a host in standard form; InvalidInput otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"a webhook must be an http(s) URL, not {url!r:.60}")
    parts = urlsplit(url.strip())
    try:
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise InvalidInput(f"webhook {url!r:.80} has a bad port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook {url!r:.80} is not an http(s) URL like http://host:9000/hook")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"webhook {url!r:.80}: put no user or password in the URL")
    host = parts.hostname
    if _literal_address(host) is None:
        _host_name(host, what=f"webhook {url!r:.80}")
    return url.strip()


def send_webhook(
    url: str,
    event: Notification,
    *,
    allow: WebhookAllow,
    timeout: float = 5.0,
    client: httpx.Client | None = None,
    resolve: Resolver | None = None,
) -> WebhookResult:
    """POST `event.to_dict()` as JSON to `url` if `allow` lets it go there; never raises on
    a refused address, a network or an HTTP failure (the result says what happened).

    A connection error, a timeout, or a 5xx/429 answer is retried at most twice,
    after RETRY_DELAYS; other answers are final (2xx: ok; 3xx/4xx: not ok).
    `timeout` bounds the whole call, retries and pauses included: each attempt
    gets what is left of it, and no retry starts after the deadline. Raises
    InvalidInput only for a URL that is not http(s) or a timeout that is not a
    positive finite number. `resolve(host, port)` returns the host's addresses
    (default: the system resolver).
    """
    import httpx

    url = check_webhook_url(url)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
        raise InvalidInput(f"timeout must be a positive number of seconds, not {timeout!r}")
    deadline = time.monotonic() + float(timeout)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not allow.allows_host(host):
        return WebhookResult(False, None, f"refused: {host} is not in webhook_allow", 0)
    try:
        addresses = _resolve(host, port, resolve or _system_resolver)
    except (OSError, ValueError) as exc:
        return WebhookResult(False, None, f"cannot resolve {host}: {_describe(exc)}", 0)
    for address in addresses:
        why = allow.refusal(host, address)
        if why is not None:
            return WebhookResult(False, None, f"refused: {why}", 0)
    target = addresses[0]
    pinned = urlunsplit((parts.scheme, _netloc(target, port), parts.path or "/", parts.query, ""))
    default_port = port == (443 if parts.scheme == "https" else 80)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "modelward-alerts",
        "Host": _netloc_name(host, None if default_port else port),
    }
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    body = json.dumps(event.to_dict(), allow_nan=False).encode("utf-8")
    http = client if client is not None else httpx.Client(trust_env=False)
    status: int | None = None
    error = "no attempt was made"
    attempts = 0
    try:
        for delay in (0.0, *RETRY_DELAYS):
            if attempts and time.monotonic() + delay >= deadline:
                break
            time.sleep(delay)
            attempts += 1
            request = http.build_request(
                "POST",
                pinned,
                content=body,
                headers=headers,
                timeout=max(deadline - time.monotonic(), 0.001),
                extensions=extensions,
            )
            try:
                response = http.send(request, follow_redirects=False)
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
                status, error = None, _describe(exc)
                continue
            status = response.status_code
            if response.is_success:
                return WebhookResult(True, status, None, attempts, str(target))
            error = f"the webhook answered HTTP {status} {response.reason_phrase}".rstrip()
            if response.is_redirect:
                error += " (redirects are not followed)"
            if status < 500 and status != 429:
                break
    finally:
        if client is None:
            http.close()
    return WebhookResult(
        False, status, f"{error} (after {attempts} attempt(s))", attempts, str(target)
    )


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _resolve(host: str, port: int, resolve: Resolver) -> list[Address]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    found: list[Address] = []
    for text in resolve(host, port):
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone
        if address not in found:
            found.append(address)
    if not found:
        raise ValueError("no address")
    return found


def _literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _as_network(text: str) -> Network | None:
    candidate = text.strip("[]") if "/" not in text else text
    try:
        return ipaddress.ip_network(candidate, strict=True)
    except ValueError as exc:
        if "/" in text:
            raise InvalidInput(f"'webhook_allow': {text} is not a network: {exc}") from None
        return None


def _host_name(text: str, *, what: str = "'webhook_allow'") -> str:
    name = text.lower().rstrip(".")
    labels = name.split(".")
    numeric = all(re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", label) for label in labels)
    if numeric:
        raise InvalidInput(
            f"{what}: {text} looks like an IP address in a non-standard form "
            "(decimal, hex, octal or short); write it like 127.0.0.1"
        )
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(f"{what}: {text!r:.80} is not a host name")
    return name


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _kind(address: Address) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_private:
        return "private"
    return "non-public"


def _netloc(address: Address, port: int) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{host}:{port}"


def _netloc_name(host: str, port: int | None) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port is None else f"{name}:{port}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
