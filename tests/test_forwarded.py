"""Trusted proxies: X-Forwarded-For and RFC 7239 Forwarded (llserver.forwarded),
and the server's ``trusted_proxies`` / ``client_address`` / ``%a``.

The walk's rules: a header counts only when the direct peer is trusted; it is
read from the right, past trusted hops, up to the first hop that is not a
trusted proxy; a hop the walk needs that cannot be read gives the peer back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from types import SimpleNamespace

import pytest
from conftest import exchange, running_server
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

import llserver.server
from llserver import Response, forwarded
from llserver.forwarded import (
    UNKNOWN,
    TrustedProxies,
    parse_forwarded,
    parse_forwarded_node,
    parse_x_forwarded_for,
)
from llserver.log import AccessLogger

PROXY = ("10.0.0.1", 40000)  # a trusted proxy's socket address
OUTSIDER = ("198.51.100.9", 40000)  # nobody's proxy
TRUSTED = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1"])
TRUSTED_FWD = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1"], header="Forwarded")


def xff(*values):
    return CIMultiDict(("X-Forwarded-For", v) for v in values)


def fwd(*values):
    return CIMultiDict(("Forwarded", v) for v in values)


# ------------------------------------------------------- RFC 7239 §6 nodes


@pytest.mark.parametrize(
    "node, expected",
    [
        ("192.0.2.43", "192.0.2.43"),
        ("192.0.2.43:47011", "192.0.2.43"),
        ("192.0.2.43:_hidden", "192.0.2.43"),
        ("[2001:db8:cafe::17]", "2001:db8:cafe::17"),
        ("[2001:DB8:CAFE:0::17]:4711", "2001:db8:cafe::17"),  # canonical spelling
        ("[::1]:80", "::1"),
        ("[::ffff:192.0.2.1]", "::ffff:192.0.2.1"),  # RFC 5952 §5, on every Python
        ("unknown", UNKNOWN),
        ("UNKNOWN", UNKNOWN),  # ABNF literals are case-insensitive (RFC 5234 §2.3)
        ("unknown:8080", UNKNOWN),
        ("_gazonk", "_gazonk"),  # obfuscated identifiers are kept as sent (§6.3)
        ("_SEVKISEK", "_SEVKISEK"),
        ("_a.b-c_d:_port", "_a.b-c_d"),
    ],
)
def test_forwarded_node_is_read_and_normalised(node, expected):
    assert parse_forwarded_node(node) == expected


@pytest.mark.parametrize(
    "node",
    [
        "",
        "2001:db8::1",  # IPv6 must be in brackets (§6)
        "[192.0.2.1]",  # brackets are for IPv6 only
        "[::1",
        "[::1]80",
        "[::1]:",
        "[::1]:123456",  # port = 1*5DIGIT
        "[fe80::1%eth0]",  # no zone identifiers (RFC 3986 IPv6address)
        "192.0.2.1:",
        "192.0.2.1:8o",
        "192.0.2.01",  # leading zeros are ambiguous (octal) and refused
        "192.0.2",
        "_",  # obfnode needs at least one character after "_"
        "_a b",
        "_a/b",
        "example.com",
        "unknownx",
    ],
)
def test_malformed_forwarded_node_is_refused(node):
    assert parse_forwarded_node(node) is None


# -------------------------------------------------- RFC 7239 §4 elements


def test_forwarded_rfc_examples():
    # The examples of RFC 7239 §4 and §7.1 (values re-typed, not copied).
    assert parse_forwarded('for="_gazonk"') == [{"for": "_gazonk"}]
    assert parse_forwarded('For="[2001:db8:cafe::17]:4711"') == [
        {"for": "[2001:db8:cafe::17]:4711"}
    ]
    assert parse_forwarded("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}
    ]
    assert parse_forwarded("for=192.0.2.43, for=198.51.100.17") == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17"},
    ]
    assert parse_forwarded(["for=192.0.2.43", "for=198.51.100.17;by=203.0.113.60"]) == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17", "by": "203.0.113.60"},
    ]


def test_forwarded_parameter_names_are_case_insensitive_values_are_not():
    assert parse_forwarded("FOR=_Abc;PROTO=HTTPS;Host=Example.COM") == [
        {"for": "_Abc", "proto": "HTTPS", "host": "Example.COM"}
    ]


def test_forwarded_quoted_pairs_are_unescaped_and_commas_inside_quotes_do_not_split():
    assert parse_forwarded(r'for="\[::1\]:8\0";host="a,b;c"') == [
        {"for": "[::1]:80", "host": "a,b;c"}
    ]
    assert parse_forwarded(r'host="a\"b", for=unknown') == [{"host": 'a"b'}, {"for": "unknown"}]


def test_forwarded_whitespace_and_empty_list_elements():
    # RFC 9110 §5.6.1.2: empty list elements are ignored; optional whitespace
    # around ";" is outside the grammar but harmless.
    assert parse_forwarded(" , for=192.0.2.1 ;  proto=https ,, ") == [
        {"for": "192.0.2.1", "proto": "https"}
    ]
    assert parse_forwarded("") == []
    assert parse_forwarded("for=192.0.2.1;") == [{"for": "192.0.2.1"}]
    assert parse_forwarded(";") == [{}]


@pytest.mark.parametrize(
    "value",
    [
        "for=[::1]",  # "[" is not a token character: IPv6 must be quoted
        "for=192.0.2.1:80",  # neither is ":"
        "for=192.0.2.1;for=192.0.2.2",  # a parameter at most once per element (§4)
        "for=192.0.2.1;FOR=192.0.2.2",
        "for",
        "for=",
        "=192.0.2.1",
        "for = 192.0.2.1",
        'for="unterminated',
        'for="a"b',
        "for=a b",
        "for=\x01",
        'for="\x7f"',
    ],
)
def test_malformed_forwarded_element_is_none(value):
    assert parse_forwarded(value) == [None]


def test_a_stray_quote_does_not_swallow_the_elements_after_it():
    assert parse_forwarded('for="junk, for=192.0.2.1, for=unknown') == [
        None,
        {"for": "192.0.2.1"},
        {"for": "unknown"},
    ]
    assert parse_forwarded('a=b;c="\\", for=192.0.2.1') == [None, {"for": "192.0.2.1"}]


# ------------------------------------------------------ X-Forwarded-For


def test_x_forwarded_for_entries():
    assert parse_x_forwarded_for("192.0.2.1") == ["192.0.2.1"]
    assert parse_x_forwarded_for(
        " 192.0.2.1 ,2001:DB8::1,[2001:db8::2]:443, [::1], 198.51.100.7:8080,unknown,, "
    ) == ["192.0.2.1", "2001:db8::1", "2001:db8::2", "::1", "198.51.100.7", UNKNOWN]
    assert parse_x_forwarded_for(["192.0.2.1, 192.0.2.2", "192.0.2.3"]) == [
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.3",
    ]
    assert parse_x_forwarded_for("") == []


@pytest.mark.parametrize(
    "entry",
    [
        "example.com",
        "192.0.2.1:",
        "192.0.2.1:123456",
        "192.0.2.1:８０",  # non-ASCII digits
        "[192.0.2.1]",
        "[::1]80",
        "[::1",
        "fe80::1%eth0",
        "_hidden",  # obfuscated identifiers are Forwarded's, not X-Forwarded-For's
        '"192.0.2.1"',
        "192.0.2.1 192.0.2.2",
    ],
)
def test_malformed_x_forwarded_for_entry_is_none(entry):
    assert parse_x_forwarded_for(f"192.0.2.9, {entry}") == ["192.0.2.9", None]


# -------------------------------------------------------- TrustedProxies


def test_trusted_proxies_accepts_strings_objects_and_a_comma_list():
    t = TrustedProxies(
        [
            "192.0.2.1",
            ipaddress.ip_address("192.0.2.2"),
            ipaddress.ip_network("198.51.100.0/24"),
            " 2001:db8::/32 ",
        ]
    )
    for address in ("192.0.2.1", "192.0.2.2", "198.51.100.200", "2001:db8:1::5"):
        assert t.is_trusted(address), address
    for address in ("192.0.2.3", "198.51.101.1", "2001:db9::1", "::1", "not an ip", ""):
        assert not t.is_trusted(address), address
    s = TrustedProxies("127.0.0.1, 10.0.0.0/8,::1")
    assert s.is_trusted("10.200.0.1") and s.is_trusted("::1") and not s.is_trusted("11.0.0.1")
    assert (
        repr(s)
        == "TrustedProxies(['127.0.0.1/32', '10.0.0.0/8', '::1/128'], header='X-Forwarded-For')"
    )


def test_trusted_proxies_refuses_bad_entries_and_headers():
    with pytest.raises(ValueError):
        TrustedProxies(["10.0.0.1/8"])  # host bits set: a typo must not shift the range
    with pytest.raises(ValueError):
        TrustedProxies(["proxy.example"])
    with pytest.raises(TypeError):
        TrustedProxies([10])
    with pytest.raises(ValueError):
        TrustedProxies([], header="X-Real-IP")
    assert TrustedProxies([], header="forwarded").header == "Forwarded"
    assert TrustedProxies([]).header == "X-Forwarded-For"


def test_ipv4_mapped_and_scoped_peers():
    # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    assert TRUSTED.is_trusted("::ffff:10.1.2.3")
    assert TRUSTED.is_trusted("::ffff:127.0.0.1")
    assert not TRUSTED.is_trusted("::ffff:192.0.2.1")
    link_local = TrustedProxies(["fe80::/10"])
    assert link_local.is_trusted("fe80::1%eth0")


def test_coerce_shares_one_instance_for_equal_lists():
    a = TrustedProxies.coerce(["127.0.0.1", "10.0.0.0/8"])
    b = TrustedProxies.coerce(["127.0.0.1", "10.0.0.0/8"])
    assert a is b
    assert TrustedProxies.coerce(a) is a
    assert TrustedProxies.coerce("127.0.0.1").is_trusted("127.0.0.1")
    assert TrustedProxies.coerce(["127.0.0.1"]) is not TrustedProxies.coerce(["127.0.0.2"])
    with pytest.raises(ValueError):
        TrustedProxies.coerce(["not-an-address"])


# ---------------------------------------------------------------- walk


def test_untrusted_peer_sending_x_forwarded_for_is_ignored():
    assert TRUSTED.client_address(OUTSIDER, xff("10.0.0.5")) == "198.51.100.9"
    assert TRUSTED.client_address(OUTSIDER, xff("203.0.113.7, 10.0.0.5")) == "198.51.100.9"
    assert TRUSTED_FWD.client_address(OUTSIDER, fwd("for=203.0.113.7")) == "198.51.100.9"


def test_trusted_peer_without_header_is_the_client():
    assert TRUSTED.client_address(PROXY, CIMultiDict()) == "10.0.0.1"
    assert TRUSTED.client_address(PROXY, xff("")) == "10.0.0.1"
    assert TRUSTED.client_address(PROXY, xff(" , ")) == "10.0.0.1"


def test_trusted_peer_names_the_client():
    assert TRUSTED.client_address(PROXY, xff("203.0.113.7")) == "203.0.113.7"
    assert TRUSTED.client_address(PROXY, xff("[2001:db8::7]:5000")) == "2001:db8::7"
    assert TRUSTED_FWD.client_address(PROXY, fwd('for="[2001:db8::7]:5000"')) == "2001:db8::7"


def test_trusted_hops_are_skipped_from_the_right():
    headers = xff("203.0.113.7, 10.2.0.1, 127.0.0.1")
    assert TRUSTED.client_address(PROXY, headers) == "203.0.113.7"
    # The same chain in several fields.
    headers = xff("203.0.113.7", "10.2.0.1", "127.0.0.1")
    assert TRUSTED.client_address(PROXY, headers) == "203.0.113.7"
    headers = fwd("for=203.0.113.7;proto=https, for=10.2.0.1", 'for="[::1]:9000";by=_lb')
    assert TRUSTED_FWD.client_address(PROXY, headers) == "203.0.113.7"


def test_client_supplied_values_left_of_the_client_are_ignored():
    # The client 203.0.113.7 claims to be 192.0.2.66 behind an internal
    # proxy; its own proxy appended what it saw.
    headers = xff("192.0.2.66, 10.9.9.9, 203.0.113.7")
    assert TRUSTED.client_address(PROXY, headers) == "203.0.113.7"
    headers = xff("192.0.2.66, 10.9.9.9", "203.0.113.7")
    assert TRUSTED.client_address(PROXY, headers) == "203.0.113.7"
    headers = fwd("for=192.0.2.66, for=10.9.9.9", "for=203.0.113.7")
    assert TRUSTED_FWD.client_address(PROXY, headers) == "203.0.113.7"


def test_junk_left_of_the_client_does_not_disturb_the_answer():
    assert TRUSTED.client_address(PROXY, xff("<script>, ::zz, 203.0.113.7")) == "203.0.113.7"
    headers = fwd('for="never closed, for=203.0.113.7')
    assert TRUSTED_FWD.client_address(PROXY, headers) == "203.0.113.7"
    headers = fwd("for=[::1];for=x", "for=203.0.113.7")
    assert TRUSTED_FWD.client_address(PROXY, headers) == "203.0.113.7"


def test_a_malformed_hop_the_walk_needs_falls_back_to_the_peer():
    assert TRUSTED.client_address(PROXY, xff("203.0.113.7, bogus")) == "10.0.0.1"
    assert TRUSTED.client_address(PROXY, xff("203.0.113.7, bogus, 127.0.0.1")) == "10.0.0.1"
    assert TRUSTED_FWD.client_address(PROXY, fwd("for=[2001:db8::7]")) == "10.0.0.1"
    assert TRUSTED_FWD.client_address(PROXY, fwd("for=1.2.3.4;for=5.6.7.8")) == "10.0.0.1"
    # A client's open quote pairing with the quote of a proxy's IPv6 node
    # garbles that node: the answer is the peer, never an address the
    # client chose.
    headers = fwd('for="6.6.6.6, for="[2001:db8::7]"')
    assert TRUSTED_FWD.client_address(PROXY, headers) == "10.0.0.1"


def test_every_hop_trusted_gives_the_leftmost():
    assert TRUSTED.client_address(PROXY, xff("10.3.3.3, 127.0.0.1")) == "10.3.3.3"


def test_unknown_and_obfuscated_hops_are_reported_as_such():
    assert TRUSTED.client_address(PROXY, xff("203.0.113.7, unknown")) == UNKNOWN
    assert TRUSTED_FWD.client_address(PROXY, fwd("for=203.0.113.7, for=_node7")) == "_node7"
    assert TRUSTED_FWD.client_address(PROXY, fwd('for="_node7:_port", for=10.1.1.1')) == "_node7"
    # An element without "for" is a hop that did not say (RFC 7239 §5.2).
    assert TRUSTED_FWD.client_address(PROXY, fwd("for=203.0.113.7, proto=https")) == UNKNOWN


def test_only_the_configured_header_is_read():
    # A proxy maintaining X-Forwarded-For passes a client's Forwarded
    # through untouched, and the other way round: the other header is the
    # client's and must not be read.
    both = CIMultiDict([("Forwarded", "for=192.0.2.66"), ("X-Forwarded-For", "203.0.113.7")])
    assert TRUSTED.client_address(PROXY, both) == "203.0.113.7"
    both = CIMultiDict([("X-Forwarded-For", "192.0.2.66"), ("Forwarded", "for=203.0.113.7")])
    assert TRUSTED_FWD.client_address(PROXY, both) == "203.0.113.7"
    assert TRUSTED.client_address(PROXY, fwd("for=192.0.2.66")) == "10.0.0.1"


def test_peer_forms():
    ipv6_peer = ("::1", 40000, 0, 0)
    assert TRUSTED.client_address(ipv6_peer, xff("203.0.113.7")) == "203.0.113.7"
    mapped = ("::ffff:10.0.0.1", 40000, 0, 0)
    assert TRUSTED.client_address(mapped, xff("203.0.113.7")) == "203.0.113.7"
    assert TRUSTED.client_address(["10.0.0.1", 1], xff("203.0.113.7")) == "203.0.113.7"
    assert TRUSTED.client_address(None, xff("203.0.113.7")) is None
    # Plain mappings work too.
    assert TRUSTED.client_address(PROXY, {"X-Forwarded-For": "203.0.113.7"}) == "203.0.113.7"


def test_unix_socket_peers_are_trusted_only_when_configured():
    assert TRUSTED.client_address("/run/app.sock", xff("203.0.113.7")) == "/run/app.sock"
    assert TRUSTED.client_address("", xff("203.0.113.7")) == ""
    unix = TrustedProxies(["unix"])
    assert unix.trusts_unix and not TRUSTED.trusts_unix
    assert unix.client_address("", xff("203.0.113.7")) == "203.0.113.7"
    assert unix.client_address("", CIMultiDict()) == ""
    assert unix.client_address(("127.0.0.1", 1), xff("203.0.113.7")) == "127.0.0.1"


# A client can write anything before what its proxy appends; whatever it
# writes, the answer is what the proxy appended, or (when its text garbles a
# quoted node) the peer: never a value of the client's choosing.
_client_text = st.text(alphabet=st.sampled_from(list(' \t,;="\\[]:_.aF019')), max_size=40)


@settings(max_examples=300, deadline=None)
@given(prefix=_client_text)
def test_property_client_prefix_cannot_choose_the_x_forwarded_for_answer(prefix):
    headers = xff(f"{prefix}, 203.0.113.7")
    assert TRUSTED.client_address(PROXY, headers) == "203.0.113.7"
    headers = xff(prefix, "203.0.113.7, 127.0.0.1")
    assert TRUSTED.client_address(PROXY, headers) == "203.0.113.7"


@settings(max_examples=300, deadline=None)
@given(prefix=_client_text)
def test_property_client_prefix_cannot_choose_the_forwarded_answer(prefix):
    headers = fwd(f"{prefix}, for=203.0.113.7")
    assert TRUSTED_FWD.client_address(PROXY, headers) == "203.0.113.7"
    headers = fwd(f'{prefix}, for="[2001:db8::7]:443"')
    assert TRUSTED_FWD.client_address(PROXY, headers) in ("2001:db8::7", "10.0.0.1")
    headers = fwd(prefix, 'for="[2001:db8::7]:443"')
    assert TRUSTED_FWD.client_address(PROXY, headers) == "2001:db8::7"


def test_splitting_is_linear_in_the_field_length():
    # Backslash-quote runs made naive quoted-string scanning quadratic.
    import time

    field = '"\\' * 4000 + ", for=203.0.113.7"
    started = time.perf_counter()
    for _ in range(20):
        assert TRUSTED_FWD.client_address(PROXY, fwd(field)) == "203.0.113.7"
    assert time.perf_counter() - started < 2.0
    assert len(forwarded._split_elements('"a' * 4000)) == 1


# ------------------------------------------------------- access log %a


class FakeTransport:
    def __init__(self, peername):
        self._peername = peername

    def get_extra_info(self, name, default=None):
        return self._peername if name == "peername" else default


def test_access_logger_remote_address_replaces_the_peer():
    records = []
    logger = SimpleNamespace(info=lambda line, extra: records.append((line, extra)), exception=None)
    access = AccessLogger(logger, "%a %s")
    response = SimpleNamespace(status=200)
    access.log(None, None, response, FakeTransport(("10.0.0.1", 1)), 0.1)
    access.log(
        None, None, response, FakeTransport(("10.0.0.1", 1)), 0.1, remote_address="2001:db8::7"
    )
    access.log(None, None, response, None, 0.1, remote_address=None)
    assert records == [
        ("10.0.0.1 200", {"remote_address": "10.0.0.1", "response_status": 200}),
        ("2001:db8::7 200", {"remote_address": "2001:db8::7", "response_status": 200}),
        ("- 200", {"remote_address": "-", "response_status": 200}),
    ]


# ------------------------------------------------------- the server


class EchoClient(llserver.server.ServerHttpProtocol):
    """Answers with what the server believes about the client, and logs."""

    async def handle_request(self, message, payload):
        body = json.dumps(
            {"client": self.client_address(message), "peer": self.client_address(None)}
        ).encode()
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "application/json")
        response.add_header("Content-Length", str(len(body)))
        response.send_headers()
        response.write(body)
        await response.write_eof()
        self.log_access(message, None, response, 0.0)


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def access_records():
    logger = logging.getLogger("test_forwarded.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = ListHandler()
    logger.addHandler(handler)
    yield logger, handler.records
    logger.removeHandler(handler)


async def ask(port, headers=b""):
    request = b"GET /who HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n"
    data, _ = await exchange(port, request)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), data
    return json.loads(body)


SPOOF = b"X-Forwarded-For: 192.0.2.66, 203.0.113.7\r\nForwarded: for=192.0.2.99\r\n"


@pytest.mark.parametrize(
    "trusted, header, expected",
    [
        (None, "X-Forwarded-For", "127.0.0.1"),  # off: the peer, header ignored
        (["10.0.0.0/8"], "X-Forwarded-For", "127.0.0.1"),  # the peer is not trusted
        (["127.0.0.1"], "X-Forwarded-For", "203.0.113.7"),
        (["127.0.0.0/8", "203.0.113.0/24"], "X-Forwarded-For", "192.0.2.66"),
        (["127.0.0.1"], "Forwarded", "192.0.2.99"),
    ],
)
async def test_server_client_address_and_access_log(access_records, trusted, header, expected):
    logger, records = access_records
    if trusted is not None and header == "Forwarded":
        trusted = TrustedProxies(trusted, header="Forwarded")

    def factory():
        return EchoClient(trusted_proxies=trusted, access_log=logger, access_log_format="%a %s")

    async with running_server(factory) as (_, port):
        answer = await ask(port, SPOOF)
    assert answer == {"client": expected, "peer": "127.0.0.1"}
    assert [r.getMessage() for r in records] == [f"{expected} 200"]
    assert records[0].remote_address == expected


async def test_server_default_is_off_and_costs_no_attribute():
    proto = llserver.server.ServerHttpProtocol()
    assert "_trusted_proxies" not in vars(proto)
    assert proto.client_address(None) is None  # not connected
    on = llserver.server.ServerHttpProtocol(trusted_proxies=["127.0.0.1"])
    assert isinstance(on._trusted_proxies, TrustedProxies)
    with pytest.raises(ValueError):
        llserver.server.ServerHttpProtocol(trusted_proxies=["10.0.0.1/8"])


async def test_server_error_page_logs_the_forwarded_client(access_records):
    logger, records = access_records

    def factory():
        return llserver.server.ServerHttpProtocol(
            trusted_proxies=["127.0.0.1"], access_log=logger, access_log_format="%a %s"
        )

    async with running_server(factory) as (_, port):
        data, _ = await exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n"
        )
    assert data.startswith(b"HTTP/1.1 404 ")
    await asyncio.sleep(0)
    assert [r.getMessage() for r in records] == ["203.0.113.7 404"]
