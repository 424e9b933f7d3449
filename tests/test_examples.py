"""The design document's examples, run as a user runs them: as scripts, in a
subprocess, answering real clients (http.client, curl).

Two sets: the files in ``examples/`` and the document's own snippets with
only their imports rewritten (``aiohttp`` -> ``llserver``) and the address
moved to 127.0.0.1 and a free port."""

from __future__ import annotations

import ast
import gzip
import http.client
import os
import shutil
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

import llserver

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


class Script:
    """A server script running in a subprocess (stopped by PID)."""

    def __init__(self, args: List[str]) -> None:
        # The child imports the same llserver as this test run (installed or
        # in-tree), not whatever its working directory offers.
        pkg_parent = str(Path(llserver.__file__).resolve().parent.parent)
        env = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            PYTHONWARNINGS="default",
            PYTHONPATH=os.pathsep.join(filter(None, [pkg_parent, os.environ.get("PYTHONPATH")])),
        )
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(ROOT),
        )
        line = self._readline(15)
        assert line.startswith("serving on"), line + self.stop()[1]
        self.host, self.port = ast.literal_eval(line[len("serving on") :].strip())[:2]

    def _readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.read(1) or b""
            if chunk == b"\n":
                return buf.decode()
            if chunk:
                buf += chunk
            else:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
        return buf.decode()

    def stop(self) -> Tuple[str, str]:
        self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
        return out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
def script() -> Iterator:
    started: List[Script] = []

    def start(*args: str) -> Script:
        s = Script(list(args))
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.stop()


def request(
    host: str,
    port: int,
    method: str = "GET",
    path: str = "/",
    body: Optional[bytes] = None,
    headers: Optional[dict] = None,
    context: Optional[ssl.SSLContext] = None,
):
    if context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    result = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return result


# --------------------------------------------------------------- examples/


def test_example_basic_server(script):
    s = script(str(EXAMPLES / "basic_server.py"), "--port", "0")
    status, headers, body = request(s.host, s.port)
    assert status == 200 and body == b"<h1>It Works!</h1>"
    assert headers["Content-Type"] == "text/html"


def test_example_get_params(script):
    s = script(str(EXAMPLES / "get_params.py"), "--port", "0")
    status, _, body = request(s.host, s.port, path="/p?x=1&x=2&y=3")
    out, _ = s.stop()
    assert status == 200
    assert body == b"<MultiDict('x': '1', 'x': '2', 'y': '3')>"
    assert "Passed in GET <MultiDict('x': '1', 'x': '2', 'y': '3')>" in out


def test_example_post_params(script):
    s = script(str(EXAMPLES / "post_params.py"), "--port", "0")
    status, _, body = request(
        s.host, s.port, "POST", "/f", b"a=1&b=2&a=3",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    out, _ = s.stop()
    assert status == 200
    assert "Passed in POST <MultiDict('a': b'1', 'b': b'2', 'a': b'3')>" in out


def test_example_precompressed_passes_gzip_through(script):
    s = script(str(EXAMPLES / "precompressed.py"), "--port", "0")
    status, headers, body = request(s.host, s.port, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"mydata"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_example_ssl_server_with_curl(script, certificate):
    cert, key = certificate
    s = script(str(EXAMPLES / "ssl_server.py"), "--port", "0", "--cert", cert, "--key", key)
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--cacert", cert, f"https://127.0.0.1:{s.port}/"],
        capture_output=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"<h1>It Works!</h1>"


# ------------------------------------------------------ the document itself

DOC_BASIC = '''
from urllib.parse import urlparse, parse_qsl

import llserver
import llserver.server
from llserver import MultiDict


import asyncio

class HttpRequestHandler(llserver.server.ServerHttpProtocol):

  async def handle_request(self, message, payload):
      response = llserver.Response(
          self.writer, 200, http_version=message.version
      )
      response.add_header('Content-Type', 'text/html')
      response.add_header('Content-Length', '18')
      response.send_headers()
      response.write(b'<h1>It Works!</h1>')
      await response.write_eof()
'''

DOC_MAIN = '''
if __name__ == '__main__':
    loop = asyncio.get_event_loop()
    f = loop.create_server(
        lambda: HttpRequestHandler(debug=True, keep_alive=75),
        '127.0.0.1', '0')
    srv = loop.run_until_complete(f)
    print('serving on', srv.sockets[0].getsockname())
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
'''

DOC_GET = '''
from urllib.parse import urlparse, parse_qsl

from llserver import MultiDict

class HttpRequestHandler(llserver.server.ServerHttpProtocol):

    async def handle_request(self, message, payload):
        response = llserver.Response(
            self.writer, 200, http_version=message.version
        )
        get_params = MultiDict(parse_qsl(urlparse(message.path).query))
        print("Passed in GET", get_params)
'''

DOC_POST = '''
from urllib.parse import urlparse, parse_qsl

from llserver import MultiDict

class HttpRequestHandler(llserver.server.ServerHttpProtocol):

    async def handle_request(self, message, payload):
        response = llserver.Response(
            self.writer, 200, http_version=message.version
        )
        data = await payload.read()
        post_params = MultiDict(parse_qsl(data))
        print("Passed in POST", post_params)
'''

DOC_SSL_MAIN = '''
import ssl

sslcontext = ssl.SSLContext(ssl.PROTOCOL_SSLv23)
sslcontext.load_cert_chain(CERT, KEY)

loop = asyncio.get_event_loop()
srv = loop.run_until_complete(
    loop.create_server(lambda: HttpRequestHandler(), "127.0.0.1", "0", ssl=sslcontext))
print('serving on', srv.sockets[0].getsockname())
try:
    loop.run_forever()
except KeyboardInterrupt:
    pass
'''


def write_script(tmp_path: Path, *parts: str) -> str:
    path = tmp_path / "doc_example.py"
    path.write_text("\n".join(textwrap.dedent(p) for p in parts))
    return str(path)


def test_doc_basic_server_as_written(script, tmp_path):
    s = script(write_script(tmp_path, DOC_BASIC, DOC_MAIN))
    status, headers, body = request(s.host, s.port)
    _, err = s.stop()
    assert status == 200 and body == b"<h1>It Works!</h1>"
    assert "Date" in headers and "Server" in headers
    # one DeprecationWarning per connection, for keep_alive=75, at the lambda
    assert "keep_alive is deprecated, use keepalive_timeout instead" in err
    assert "Traceback" not in err


def test_doc_get_params_as_written(script, tmp_path):
    s = script(write_script(tmp_path, DOC_BASIC, DOC_GET, DOC_MAIN))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(s.host, s.port, path="/p?x=1&x=2&y=3")  # the handler sends nothing
    out, err = s.stop()
    assert "Passed in GET <MultiDict('x': '1', 'x': '2', 'y': '3')>" in out
    assert "Traceback" not in err


def test_doc_post_params_as_written(script, tmp_path):
    s = script(write_script(tmp_path, DOC_BASIC, DOC_POST, DOC_MAIN))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        request(s.host, s.port, "POST", "/f", b"a=1&b=2&a=3")
    out, err = s.stop()
    assert "Passed in POST <MultiDict('a': b'1', 'b': b'2', 'a': b'3')>" in out
    assert "Traceback" not in err


def test_doc_ssl_as_written(script, tmp_path, certificate):
    cert, key = certificate
    s = script(write_script(tmp_path, DOC_BASIC, f"CERT, KEY = {cert!r}, {key!r}", DOC_SSL_MAIN))
    ctx = ssl.create_default_context(cafile=cert)
    status, _, body = request(s.host, s.port, context=ctx)
    assert status == 200 and body == b"<h1>It Works!</h1>"
