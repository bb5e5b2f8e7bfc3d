"""Where a webhook may send events: public addresses, unless an operator allows more.

A webhook's URL is chosen by whoever can run ``filiere webhook add``, but the
request leaves from the server, inside the region's network: pointed at a
loopback, private or link-local address (the cloud metadata service answers
on 169.254.169.254) it would make Filiere a way into what the network hides.
So a destination must resolve only to public addresses, checked when the
webhook is added and again at every delivery, on the addresses actually
connected to (a name may resolve to a public address when it is checked and to
a private one a second later: DNS rebinding). The deliverer connects to an
address it checked, never to a name it lets the HTTP client resolve again.

Operators widen this for an intranet or test receiver: ``--allow-private`` on
``webhook add`` admits private, loopback and other non-public addresses for
that webhook (never link-local, multicast or unspecified ones), and
``FILIERE_WEBHOOK_ALLOW`` lists CIDRs or host names admitted for every webhook
(link-local included, when listed). ``FILIERE_WEBHOOK_DENY`` lists CIDRs or
host names refused even though public; it wins over everything.

Credentials written in the URL (``https://user:password@host/``) are split off
when the webhook is added and kept apart from it, so that the URL can be
logged and listed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from workflow.errors import InvalidInput

ALLOW_ENV = "FILIERE_WEBHOOK_ALLOW"
DENY_ENV = "FILIERE_WEBHOOK_DENY"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """A destination the policy does not admit; the message says which address and why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook's URL without credentials, and the credentials (``user:password``, as typed)."""

    url: str
    credentials: str | None


def split_url(url: str) -> Target:
    """Check that ``url`` is an http(s) URL with a host; take its credentials out of it.

    Raises:
        InvalidInput: not an http(s) URL with a host (the message never repeats the URL).
    """
    if not url.startswith(("http://", "https://")) or len(url) > 2000 or not url.isprintable():
        raise InvalidInput("url", "must be an http:// or https:// URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("url", f"malformed URL ({exc})") from None
    if not parts.hostname or " " in url:
        raise InvalidInput("url", "must be an http:// or https:// URL with a host")
    credentials = parts.netloc.rpartition("@")[0] or None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return Target(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), credentials)


def _entries(value: str, variable: str) -> tuple[tuple[Network, ...], frozenset[str]]:
    networks: list[Network] = []
    hosts: set[str] = set()
    for entry in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if not entry.replace("-", "").replace(".", "").isalnum():
                raise InvalidInput(variable, f"{entry!r} is neither a CIDR nor a host name") from None
            hosts.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


def _plain(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo), judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


#: Non-public kinds of address, the first that applies names the refusal.
_KINDS = (
    ("link-local (where cloud metadata services answer)", "is_link_local"),
    ("multicast", "is_multicast"),
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("private", "is_private"),
)


def _why_not_public(address: Address) -> str | None:
    for why, attribute in _KINDS:
        if getattr(address, attribute):
            return why
    return None if address.is_global else "not public"


#: The reasons ``--allow-private`` waives.
_PRIVATE = ("loopback", "private", "not public")


@dataclass(frozen=True, slots=True)
class Policy:
    """The allow and deny lists; the default admits public addresses only."""

    allow: tuple[Network, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    deny: tuple[Network, ...] = ()
    deny_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Policy:
        """The policy ``FILIERE_WEBHOOK_ALLOW`` and ``FILIERE_WEBHOOK_DENY`` describe.

        Raises:
            InvalidInput: an entry that is neither a CIDR nor a host name.
        """
        env = os.environ if environ is None else environ
        allow, allow_hosts = _entries(env.get(ALLOW_ENV, ""), ALLOW_ENV)
        deny, deny_hosts = _entries(env.get(DENY_ENV, ""), DENY_ENV)
        return cls(allow, allow_hosts, deny, deny_hosts)

    def judge(self, host: str, address: Address, *, allow_private: bool) -> str | None:
        """Why ``address`` (which ``host`` resolved to) is refused, or ``None``."""
        name = host.lower().rstrip(".")
        plain = _plain(address)
        if name in self.deny_hosts or any(plain in n or address in n for n in self.deny):
            return f"{address} is denied by {DENY_ENV}"
        if name in self.allow_hosts or any(plain in n or address in n for n in self.allow):
            return None
        why = _why_not_public(plain)
        if why is None or (allow_private and why in _PRIVATE):
            return None
        hint = "; --allow-private admits it" if why in _PRIVATE else f"; only {ALLOW_ENV} admits it"
        return f"{host} resolves to {address}, a {why} address{hint}"

    def addresses(self, url: str, *, allow_private: bool) -> list[str]:
        """The addresses ``url``'s host resolves to, every one of them admitted.

        Raises:
            Refused: the host does not resolve, or one of its addresses is refused (a name
                that resolves to one public and one private address is refused: which of
                them a client would use is not ours to choose).
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"{host} does not resolve ({exc})") from None
        addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))
        for text in addresses:
            reason = self.judge(host, ipaddress.ip_address(text), allow_private=allow_private)
            if reason:
                raise Refused(reason)
        if not addresses:
            raise Refused(f"{host} does not resolve")
        return addresses
