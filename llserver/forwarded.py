"""The client's address behind trusted reverse proxies.

Behind a reverse proxy every connection comes from the proxy, so the
transport's peer address names the proxy, not the client.  Proxies report
the address they received a request from in a request header: the de facto
``X-Forwarded-For`` (a comma-separated list of addresses) or the
standardised ``Forwarded`` (RFC 7239).  Each proxy appends the address of
the hop it received the request from, so the list reads left to right from
the client towards the server.

Anyone can send these headers, so a value means something only when it was
written by a proxy the operator trusts.  :class:`TrustedProxies` holds that
trust (addresses and networks, configured explicitly) and applies the one
safe reading of the chain:

1. Only when the direct peer (the TCP connection's other end) is a trusted
   proxy is any forwarding header believed at all.  A client talking to the
   server directly can write whatever it likes in them.
2. The chain is walked from the right.  The rightmost entry was written by
   the direct peer, which is trusted; if that entry names a trusted proxy
   too, the entry left of it was written by that proxy, and so on.  The
   first entry that is *not* a trusted proxy is the client.  Everything left
   of it was written by the client (or by proxies the operator does not
   know) and is ignored: a client cannot put itself anywhere but at the left
   end, so it cannot choose what the walk returns.
3. A hop that the walk needs but cannot read (a malformed entry) makes the
   whole answer fall back to the direct peer: guessing would let a garbled
   value pick an address.  Entries left of the client are never
   interpreted, so junk a client sends there does not disturb the answer.

Only one header is read, chosen by the operator (``header=``): a proxy that
maintains ``X-Forwarded-For`` usually passes a client's ``Forwarded`` header
through untouched, and reading that one would hand the choice of address to
the client.

Nothing here runs unless a server is given ``trusted_proxies``; the server
then asks once per :meth:`ServerHttpProtocol.client_address` call.
"""

from __future__ import annotations

import ipaddress
import re
from typing import (
    Any,
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
    cast,
)

__all__ = (
    "UNIX",
    "UNKNOWN",
    "ProxySpec",
    "TrustedProxies",
    "TrustedProxiesSpec",
    "parse_forwarded",
    "parse_forwarded_node",
    "parse_x_forwarded_for",
)

#: The node RFC 7239 §6.2 reserves for a hop whose address a proxy does not
#: know (or will not tell).
UNKNOWN = "unknown"

#: The entry of a trusted-proxy list that trusts peers on Unix-domain
#: sockets (``proxy_pass http://unix:/run/app.sock`` in nginx): only local
#: processes can connect to such a socket, and file permissions decide which.
UNIX = "unix"

_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
#: What a trusted-proxy list may hold.
ProxySpec = Union[str, _Address, _Network]

# RFC 9110 §5.6.2 token; RFC 9110 §5.6.4 quoted-string (qdtext and
# quoted-pair: HTAB, SP, VCHAR and obs-text).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
# RFC 7239 §4: forwarded-pair = token "=" value.  Optional whitespace around
# ";" is not in the grammar but common in the wild; it is harmless to accept.
_PAIR_RE = re.compile(rf"[ \t]*(?:({_TOKEN})=({_TOKEN}|{_QUOTED}))?[ \t]*(;|\Z)")
_UNESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
# RFC 7239 §6: obfnode and obfport ("_" followed by ALPHA / DIGIT / "." /
# "_" / "-"), and node-port = 1*5DIGIT.
_OBFUSCATED_RE = re.compile(r"_[A-Za-z0-9._-]+\Z")
_PORT_RE = re.compile(r"(?:[0-9]{1,5}|_[A-Za-z0-9._-]+)\Z")
# X-Forwarded-For ports: digits only.
_DIGITS_RE = re.compile(r"[0-9]{1,5}\Z")
_QUOTE_OR_COMMA = re.compile(r'[",]')
_QUOTE_OR_BACKSLASH = re.compile(r'["\\]')

_HEADERS = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


# ------------------------------------------------------------------ nodes


def _ip(text: str) -> Optional[_Address]:
    """``text`` as an IP address, or None.  Zone identifiers (``%eth0``)
    are refused: they mean nothing outside the host that wrote them, and
    RFC 7239's IPv6address (RFC 3986 §3.2.2) has none."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _canonical(address: _Address) -> str:
    """The address's text form, the same on every Python: an IPv4-mapped
    IPv6 address keeps its dotted tail (``::ffff:192.0.2.1``, RFC 5952 §5),
    which ``str()`` gives only from Python 3.13 on."""
    if address.version == 6:
        mapped = address.ipv4_mapped
        if mapped is not None:
            return f"::ffff:{mapped}"
    return str(address)


def parse_forwarded_node(node: str) -> Optional[str]:
    """Read an RFC 7239 §6 node (the value of a ``for=`` or ``by=``
    parameter, already unquoted) and return its address part, normalised.

    ``nodename [":" node-port]`` where nodename is an IPv4 address, an IPv6
    address in brackets (§6: brackets and the colon are why IPv6 values
    must be quoted), ``unknown`` (§6.2) or an obfuscated identifier starting
    with ``_`` (§6.3).  The port is dropped.  Returns the address in its
    canonical spelling (``2001:db8::1``, no brackets), ``"unknown"``, the
    obfuscated identifier as given, or None when ``node`` is malformed.
    """
    if node.startswith("["):
        end = node.find("]")
        if end < 0:
            return None
        rest = node[end + 1 :]
        if rest and (rest[0] != ":" or not _PORT_RE.match(rest, 1)):
            return None
        address = _ip(node[1:end])
        if address is None or address.version != 6:
            return None
        return _canonical(address)
    name, colon, port = node.partition(":")
    if colon and not _PORT_RE.match(port):
        return None
    if name.lower() == UNKNOWN:
        return UNKNOWN
    if _OBFUSCATED_RE.match(name):
        return name
    address = _ip(name)
    if address is None or address.version != 4:
        return None  # IPv6 must be bracketed (§6)
    return _canonical(address)


def _x_forwarded_for_node(entry: str) -> Optional[str]:
    """One ``X-Forwarded-For`` entry, normalised, or None if malformed.

    X-Forwarded-For has no specification; what proxies write is an IPv4 or
    IPv6 address, sometimes with a port (``192.0.2.1:4711``,
    ``[2001:db8::1]:4711``), or ``unknown``."""
    address = _ip(entry)
    if address is not None:
        return _canonical(address)
    if entry.startswith("["):
        end = entry.find("]")
        rest = entry[end + 1 :] if end > 0 else ""
        if end < 0 or (rest and (rest[0] != ":" or not _DIGITS_RE.match(rest, 1))):
            return None
        address = _ip(entry[1:end])
        return _canonical(address) if address is not None and address.version == 6 else None
    if entry.lower() == UNKNOWN:
        return UNKNOWN
    name, colon, port = entry.partition(":")
    if colon and _DIGITS_RE.match(port):
        address = _ip(name)
        if address is not None and address.version == 4:
            return _canonical(address)
    return None


# ---------------------------------------------------------------- headers


def _values(value: Union[str, Iterable[str]]) -> List[str]:
    return [value] if isinstance(value, str) else list(value)


def _x_forwarded_for_from_right(values: List[str]) -> Iterator[Optional[str]]:
    """The nodes of X-Forwarded-For fields, last first.  Several fields
    form one list in order (RFC 9110 §5.3); empty entries are skipped, as
    for any list-based field (RFC 9110 §5.6.1.2)."""
    for field in reversed(values):
        for entry in reversed(field.split(",")):
            entry = entry.strip(" \t")
            if entry:
                yield _x_forwarded_for_node(entry)


def parse_x_forwarded_for(value: Union[str, Iterable[str]]) -> List[Optional[str]]:
    """The hops of ``X-Forwarded-For`` field values, left to right.

    ``value`` is one field value or the values of several fields in the
    order received.  Each hop is a normalised IP address (ports dropped),
    ``"unknown"``, or None for an entry that is none of these."""
    hops = list(_x_forwarded_for_from_right(_values(value)))
    hops.reverse()
    return hops


def _split_elements(field: str) -> List[str]:
    """Split a Forwarded field value at the commas outside quoted strings.

    Linear in the length of the field.  A quote that is never closed makes
    its element malformed; after it, quotes are taken as plain characters,
    so one stray quote written by a client cannot swallow the elements that
    proxies appended to its right."""
    elements = []
    start = pos = 0
    quoting = True
    while True:
        if quoting:
            match = _QUOTE_OR_COMMA.search(field, pos)
            at = match.start() if match is not None else -1
        else:
            at = field.find(",", pos)
        if at < 0:
            elements.append(field[start:])
            return elements
        if field[at] == ",":
            elements.append(field[start:at])
            start = pos = at + 1
            continue
        # An opening quote: find its closing one, past quoted-pairs.
        scan = at + 1
        while True:
            match = _QUOTE_OR_BACKSLASH.search(field, scan)
            if match is None:
                quoting = False  # unterminated
                pos = at + 1
                break
            if field[match.start()] == '"':
                pos = match.end()
                break
            scan = match.start() + 2


def _parse_element(element: str) -> Optional[Dict[str, str]]:
    """One forwarded-element (RFC 7239 §4) as ``{parameter: value}`` with
    lower-cased parameter names (§4: they are case-insensitive) and quoted
    values unescaped; None when malformed, including a parameter given
    twice (§4: each "MUST NOT occur more than once per forwarded-element")."""
    params: Dict[str, str] = {}
    pos = 0
    while True:
        match = _PAIR_RE.match(element, pos)
        if match is None:
            return None
        name, value, sep = match.groups()
        if name is not None:
            name = name.lower()
            if name in params:
                return None
            if value.startswith('"'):
                value = _UNESCAPE_RE.sub(r"\1", value[1:-1])
            params[name] = value
        if not sep:  # \Z: the whole element was read
            return params
        pos = match.end()


def _forwarded_from_right(values: List[str]) -> Iterator[Optional[Dict[str, str]]]:
    """The elements of Forwarded fields, last first, parsed one at a time
    so that the walk never reads what lies left of the client (RFC 7239 §4:
    several fields form one list, in order)."""
    for field in reversed(values):
        for element in reversed(_split_elements(field)):
            if element.strip(" \t"):  # empty list elements are allowed
                yield _parse_element(element)


def parse_forwarded(value: Union[str, Iterable[str]]) -> List[Optional[Dict[str, str]]]:
    """The elements of ``Forwarded`` field values (RFC 7239 §4), left to
    right: each a dict of its parameters (names lower-cased, quoted values
    unescaped), or None for a malformed element.  Node values are left as
    written; :func:`parse_forwarded_node` reads them."""
    elements = list(_forwarded_from_right(_values(value)))
    elements.reverse()
    return elements


def _forwarded_for_nodes(values: List[str]) -> Iterator[Optional[str]]:
    """The ``for=`` node of each Forwarded element, last first.  An element
    without ``for`` is a hop that did not say whom it received the request
    from: it counts as ``unknown`` (RFC 7239 §5.2, §6.2)."""
    for params in _forwarded_from_right(values):
        if params is None:
            yield None
        else:
            node = params.get("for")
            yield UNKNOWN if node is None else parse_forwarded_node(node)


# ---------------------------------------------------------------- trust


class TrustedProxies:
    """The proxies whose forwarding headers are believed, and the header
    they maintain.

    ``proxies`` holds IP addresses and networks (strings such as
    ``"127.0.0.1"``, ``"10.0.0.0/8"``, ``"::1"``, or :mod:`ipaddress`
    objects), and :data:`UNIX` (``"unix"``) to trust peers on Unix-domain
    sockets; a string is read as a comma-separated list.  A network with
    host bits set (``10.0.0.1/8``) raises ValueError: in a security setting
    a typo must not silently widen or shift the range.

    ``header`` is ``"X-Forwarded-For"`` (the default: nginx's
    ``$proxy_add_x_forwarded_for``, HAProxy's ``option forwardfor``) or
    ``"Forwarded"`` (RFC 7239).  Only that header is read; see the module
    documentation for why never both.

    Instances are immutable; build one and share it between connections.
    """

    __slots__ = ("_header", "_hosts", "_networks", "_unix", "_spec")

    def __init__(
        self,
        proxies: Union[str, Iterable[ProxySpec]],
        *,
        header: str = "X-Forwarded-For",
    ) -> None:
        canonical = _HEADERS.get(header.lower()) if isinstance(header, str) else None
        if canonical is None:
            raise ValueError(f"header must be 'X-Forwarded-For' or 'Forwarded', not {header!r}")
        if isinstance(proxies, str):
            proxies = [item for item in proxies.split(",") if item.strip()]
        hosts = set()
        networks: List[_Network] = []
        unix = False
        spec: List[str] = []
        for item in proxies:
            if isinstance(item, str):
                item = item.strip()
                if item.lower() == UNIX:
                    unix = True
                    spec.append(UNIX)
                    continue
                network = ipaddress.ip_network(item)  # strict: no host bits
            elif isinstance(item, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                network = ipaddress.ip_network(item)
            elif isinstance(item, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                network = item
            else:
                raise TypeError(f"not an address or network: {item!r}")
            spec.append(str(network))
            if network.num_addresses == 1:
                hosts.add(network.network_address)
            else:
                networks.append(network)
        self._header = canonical
        self._hosts: FrozenSet[_Address] = frozenset(hosts)
        self._networks: Tuple[_Network, ...] = tuple(networks)
        self._unix = unix
        self._spec = tuple(spec)

    @classmethod
    def coerce(cls, value: TrustedProxiesSpec) -> TrustedProxies:
        """``value`` itself if it is a :class:`TrustedProxies`, else one
        built from it (with the default header).  Servers build a protocol
        per connection, so equal lists share one parsed instance."""
        if isinstance(value, TrustedProxies):
            return value
        if isinstance(value, str):
            key: Tuple[Any, ...] = ("str", value)
        else:
            value = list(value)
            key = ("list", *(str(item) for item in value))
        found = _COERCED.get(key)
        if found is None:
            found = cls(value)
            if len(_COERCED) >= 64:
                _COERCED.clear()
            _COERCED[key] = found
        return found

    @property
    def header(self) -> str:
        """The forwarding header this configuration reads."""
        return self._header

    @property
    def trusts_unix(self) -> bool:
        """Whether peers on Unix-domain sockets are trusted."""
        return self._unix

    def __repr__(self) -> str:
        return f"TrustedProxies({list(self._spec)!r}, header={self._header!r})"

    def is_trusted(self, address: str) -> bool:
        """Whether the IP address ``address`` belongs to a trusted proxy.

        An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``, what a dual-stack
        listener reports for IPv4 peers) counts as its IPv4 address.  A zone
        identifier on the peer's own address (``fe80::1%eth0``) is ignored.
        Anything that is not an IP address is not trusted."""
        try:
            ip = ipaddress.ip_address(address.partition("%")[0])
        except ValueError:
            return False
        return self._trusts(ip)

    def _trusts(self, ip: _Address) -> bool:
        if ip in self._hosts:
            return True
        for network in self._networks:
            if network.version == ip.version and ip in network:
                return True
        if ip.version == 6:
            mapped = ip.ipv4_mapped
            if mapped is not None:
                return self._trusts(mapped)
        return False

    def client_address(self, peername: Any, headers: Any) -> Optional[str]:
        """The client's address for a request that arrived from ``peername``
        with ``headers``.

        ``peername`` is what the transport reports
        (``get_extra_info("peername")``): a tuple whose first item is the IP
        address, a string for a Unix-domain socket (its path, ``''`` when
        unnamed), or None.  ``headers`` is the request's header mapping
        (``message.headers``; ``getall`` is used when it has one).

        Returns the peer's address (the tuple's host, the socket path, or
        None) when the peer is not a trusted proxy, when the header is
        absent, or when a hop the walk needs is malformed.  Otherwise the
        first hop from the right that is not a trusted proxy, as a
        normalised IP address, or ``"unknown"`` / an obfuscated identifier
        when that is how a trusted proxy reported it (RFC 7239 §6.2, §6.3);
        when every hop is trusted, the leftmost.
        """
        if isinstance(peername, (tuple, list)):
            peer = peername[0] if peername else None
            if not isinstance(peer, str) or not self.is_trusted(peer):
                return peer
        elif isinstance(peername, str) and self._unix:
            peer = peername
        else:
            return cast(Optional[str], peername)
        getall = getattr(headers, "getall", None)
        if getall is not None:
            values = getall(self._header, None)
        else:
            value = headers.get(self._header)
            values = None if value is None else [value]
        if not values:
            return peer
        nodes = (
            _x_forwarded_for_from_right(values)
            if self._header == "X-Forwarded-For"
            else _forwarded_for_nodes(values)
        )
        client = peer
        for node in nodes:
            if node is None:
                return peer  # a hop we must read is garbled: believe nothing
            client = node
            ip = _ip(node)
            if ip is None or not self._trusts(ip):
                return node
        return client


_COERCED: Dict[Tuple[Any, ...], TrustedProxies] = {}

#: What ``ServerHttpProtocol(trusted_proxies=...)`` accepts.
TrustedProxiesSpec = Union[TrustedProxies, str, Iterable[ProxySpec]]
