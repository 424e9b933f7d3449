"""ServerHttpProtocol through real sockets: the design document's handler,
keep-alive, pipelining, error pages, TLS (checklist sections A, C, G, H)."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import ssl
import warnings

from conftest import exchange, running_server, split_responses

import llserver
import llserver.server
from llserver import Response, errors


class DocHandler(llserver.server.ServerHttpProtocol):
    """The design document's first example, imports rewritten."""

    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "text/html")
        response.add_header("Content-Length", "18")
        response.send_headers()
        response.write(b"<h1>It Works!</h1>")
        await response.write_eof()


class OptInHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        body = (await payload.read()) or message.path.encode()
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Length", str(len(body)))
        response.send_headers()
        response.write(body)
        await response.write_eof()
        self.keep_alive(True)


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_design_doc_handler_answers_with_its_page():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with running_server(lambda: DocHandler(debug=True, keep_alive=75)) as (_, port):
            data, _ = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    names = [line.split(b":")[0] for line in lines[1:]]
    assert names[:2] == [b"Content-Type", b"Content-Length"]
    assert names.index(b"Date") > 1 and names.index(b"Server") > names.index(b"Date")
    assert re.search(rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", head + b"\r\n")
    assert body == b"<h1>It Works!</h1>"
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1
    assert str(deprecations[0].message) == "keep_alive is deprecated, use keepalive_timeout instead"
    assert deprecations[0].filename == __file__


async def test_http10_request_gets_http10_status_line_and_close():
    async with running_server(DocHandler) as (_, port):
        data, closed = await exchange(port, b"GET / HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    assert data.endswith(b"<h1>It Works!</h1>")
    assert b"Connection: keep-alive" not in data
    assert closed


async def test_design_doc_handler_serves_pipelined_requests_with_automatic_keep_alive():
    # api-spec §12 decision 2: a handler that never calls keep_alive() keeps
    # the connection when the request allows it and the length is known.
    async with running_server(DocHandler) as (_, port):
        data, _ = await exchange(port, GET * 3)
    assert data.count(b"HTTP/1.1 200 OK") == 3


async def test_twenty_keep_alive_requests_on_one_connection_with_http_client():
    async with running_server(OptInHandler) as (host, port):

        def client():
            conn = http.client.HTTPConnection(host, port, timeout=5)
            bodies = []
            for i in range(20):
                conn.request("GET", f"/r{i}")
                resp = conn.getresponse()
                bodies.append(resp.read())
            sock_ids = {id(conn.sock)}
            conn.close()
            return bodies, sock_ids

        bodies, sock_ids = await asyncio.get_running_loop().run_in_executor(None, client)
    assert bodies == [f"/r{i}".encode() for i in range(20)]
    assert len(sock_ids) == 1


async def test_sixteen_pipelined_requests_answered_in_order():
    async with running_server(OptInHandler) as (_, port):
        data, _ = await exchange(port, b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(16)))
    responses = split_responses(data)
    assert [body for _, body in responses] == [b"/%d" % i for i in range(16)]


async def test_connection_close_request_closes_even_after_opt_in():
    async with running_server(OptInHandler) as (_, port):
        data, closed = await exchange(
            port, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert data.count(b"HTTP/1.1 200") == 1 and b"Connection: close" in data
    assert closed


async def test_malformed_request_gets_400_and_close_and_server_keeps_serving():
    async with running_server(DocHandler) as (_, port):
        data, closed = await exchange(port, b"!@#$ / HTTP/1.0\r\nHost: example.com\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"Connection: close" in data and closed
        data, _ = await exchange(port, GET)
        assert data.startswith(b"HTTP/1.1 200 OK")


async def test_error_page_escapes_request_text():
    async with running_server(DocHandler) as (_, port):
        data, _ = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n<script>: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400")
    assert b"<script>" not in data.split(b"\r\n\r\n", 1)[1]


async def test_requests_before_a_malformed_one_are_answered_then_400():
    async with running_server(OptInHandler) as (_, port):
        data, closed = await exchange(
            port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost : x\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert b"HTTP/1.1 400 Bad Request" in data
    assert b"/hidden" not in data
    assert closed


class Raiser(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        if message.path == "/late":
            response = Response(self.writer, 200, http_version=message.version)
            response.send_headers()
            response.write(b"partial")
            await asyncio.sleep(0)
        if message.path == "/http":
            raise errors.HttpProcessingError(code=403, message="Nope", headers=[("X-Why", "because")])
        if message.path == "/timeout":
            raise asyncio.TimeoutError()
        raise ValueError("что-то пошло не так")


async def test_handler_exception_before_headers_gives_500_page():
    async with running_server(Raiser) as (_, port):
        data, closed = await exchange(port, GET)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error")
    assert b"Content-Type: text/html; charset=utf-8" in head
    assert b"Connection: close" in head
    assert b"Content-Length: %d" % len(body) in head
    assert b"<title>500 Internal Server Error</title>" in body
    assert b"Server got itself in trouble" in body
    assert b"Traceback" not in body
    assert len(body) == 170
    assert closed


async def test_debug_error_page_has_escaped_utf8_traceback():
    async with running_server(lambda: Raiser(debug=True)) as (_, port):
        data, _ = await exchange(port, GET)
    body = data.split(b"\r\n\r\n", 1)[1]
    assert b"<h2>Traceback:</h2>" in body
    assert b"Traceback (most recent call last):" in body
    assert "что-то пошло не так".encode() in body


async def test_http_processing_error_becomes_its_status_with_headers():
    async with running_server(Raiser) as (_, port):
        data, closed = await exchange(port, b"GET /http HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"X-Why: because\r\n" in data
    assert b"<title>403 Nope</title>" in data
    assert closed


async def test_stray_timeout_error_in_handler_is_a_500():
    async with running_server(Raiser) as (_, port):
        data, _ = await exchange(port, b"GET /timeout HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500")


async def test_exception_after_headers_truncates_without_a_second_response():
    async with running_server(Raiser) as (_, port):
        data, closed = await exchange(port, b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.count(b"HTTP/1.1") == 1
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert not data.endswith(b"0\r\n\r\n")  # the chunked body was not terminated
    assert closed


async def test_default_handler_is_404():
    async with running_server(llserver.server.ServerHttpProtocol) as (_, port):
        data, closed = await exchange(port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        data10, _ = await exchange(port, b"GET /x HTTP/1.0\r\n\r\n")
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 404 Not Found")
    assert b"Content-Type: text/plain" in head and b"Content-Length: 15" in head
    assert b"Connection: close" in head
    assert body == b"Page Not Found!"
    assert closed
    assert data10.startswith(b"HTTP/1.0 404 Not Found") and b"Connection" not in data10


async def test_https_with_the_design_doc_handler(server_ssl_context, certificate):
    async with running_server(DocHandler, ssl_context=server_ssl_context) as (host, port):

        def client():
            ctx = ssl.create_default_context(cafile=certificate[0])
            conn = http.client.HTTPSConnection(host, port, timeout=5, context=ctx)
            conn.request("GET", "/")
            resp = conn.getresponse()
            result = resp.status, resp.read()
            conn.close()
            return result

        status, body = await asyncio.get_running_loop().run_in_executor(None, client)
    assert status == 200 and body == b"<h1>It Works!</h1>"


class Echo(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        body = await payload.read()
        info = {
            "method": message.method,
            "path": message.path,
            "version": list(message.version),
            "headers": list(message.headers.items()),
            "raw": [[n.decode(), v.decode("utf-8", "surrogateescape")] for n, v in message.raw_headers],
            "should_close": message.should_close,
            "compression": message.compression,
            "body": body.decode("latin-1"),
        }
        out = json.dumps(info).encode()
        response = Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "application/json")
        response.add_header("Content-Length", str(len(out)))
        response.send_headers()
        response.write(out)
        await response.write_eof()


async def test_message_as_handler_sees_it():
    async with running_server(Echo) as (_, port):
        data, _ = await exchange(
            port, b"POST /f?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\na=1&b=2&a=3"
        )
    info = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert info["method"] == "POST" and info["path"] == "/f?x=1"
    assert info["version"] == [1, 1]
    assert info["headers"] == [["Host", "x"], ["Content-Length", "11"], ["X-A", "1"], ["X-A", "2"]]
    assert info["raw"][0] == ["HOST", "x"]
    assert info["body"] == "a=1&b=2&a=3"


async def test_chunked_request_body_read_by_handler():
    async with running_server(Echo) as (_, port):
        data, _ = await exchange(
            port,
            pieces=[
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"4;test\r\ndata\r\n4\r",
                b"\nline\r\n0\r\ntest: x\r\n\r\n",
            ],
            delay=0.05,
        )
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["body"] == "dataline"


async def test_expect_100_continue_sent_when_handler_reads():
    async with running_server(Echo) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abc")
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert final.startswith(b"HTTP/1.1 200 OK")
        writer.close()


async def test_keepalive_timeout_closes_idle_connection():
    async with running_server(lambda: OptInHandler(keepalive_timeout=1)) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET)
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        await reader.readexactly(1)  # body "/"
        await asyncio.sleep(0.5)
        writer.write(GET)  # still served 0.5 s later
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        await reader.readexactly(1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        rest = await asyncio.wait_for(reader.read(), 3)
        elapsed = loop.time() - start
        writer.close()
    assert rest == b""
    assert 0.7 <= elapsed <= 1.5


async def test_slow_request_closes_without_response():
    async with running_server(lambda: DocHandler(slow_request_timeout=0.01, keepalive_timeout=0)) as (_, port):
        data, closed = await exchange(port, b"GET / HTTP/1.0\r\nHost: example.com\r\n", total=2)
    assert data == b"" and closed


async def test_keepalive_timeout_none_serves_and_disables_keep_alive():
    async with running_server(lambda: OptInHandler(keepalive_timeout=None)) as (_, port):
        data, closed = await exchange(port, GET + GET)
    assert data.count(b"HTTP/1.1 200 OK") == 1 and closed


async def test_half_closed_client_still_gets_its_complete_request_answered():
    async with running_server(DocHandler) as (_, port):
        data, closed = await exchange(port, GET, half_close=True)
    assert data.startswith(b"HTTP/1.1 200 OK") and closed


async def test_truncated_request_then_half_close_closes_quietly():
    async with running_server(DocHandler) as (_, port):
        data, closed = await exchange(port, b"GET /path HTTP/1.1\r\n", half_close=True)
    assert data == b"" and closed


async def test_socket_options_keepalive_and_nodelay():
    import socket

    seen = {}

    class Opts(llserver.server.ServerHttpProtocol):
        async def handle_request(self, message, payload):
            sock = self.transport.get_extra_info("socket")
            seen[message.path] = (
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
            )
            return self.handle_error(404)

    async with running_server(Opts) as (_, port):
        await exchange(port, b"GET /on HTTP/1.1\r\nHost: x\r\n\r\n")
    async with running_server(lambda: Opts(tcp_keepalive=False)) as (_, port):
        await exchange(port, b"GET /off HTTP/1.1\r\nHost: x\r\n\r\n")
    assert seen["/on"][0] == 1 and seen["/on"][1] != 0
    assert seen["/off"][0] == 0


def test_responses_is_http_servers_table_without_importing_it():
    """RESPONSES is 1.1's table; importing llserver does not pull in
    http.server and the email package (resident memory per process)."""
    import http.server
    import os
    import pathlib
    import subprocess
    import sys

    assert llserver.server.RESPONSES == http.server.BaseHTTPRequestHandler.responses
    code = (
        "import sys, llserver; "
        "print(sorted(m for m in ('http.server', 'email', 'html') if m in sys.modules))"
    )
    site = str(pathlib.Path(llserver.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "PYTHONPATH": site},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
