"""The design document's "SSL" example, ported.

``ssl.PROTOCOL_SSLv23`` is deprecated since Python 3.10; the server-side
context of today is ``ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)``.
The document passed ``lambda: handler`` (a bug); this passes the class.

    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \\
        -keyout sample.key -out sample.crt
    python examples/ssl_server.py --cert sample.crt --key sample.key --port 8443
    curl -k https://127.0.0.1:8443/
"""

import argparse
import asyncio
import ssl

import llserver
import llserver.server


class HttpRequestHandler(llserver.server.ServerHttpProtocol):
    async def handle_request(self, message, payload):
        response = llserver.Response(self.writer, 200, http_version=message.version)
        response.add_header("Content-Type", "text/html")
        response.add_header("Content-Length", "18")
        response.send_headers()
        response.write(b"<h1>It Works!</h1>")
        await response.write_eof()


if __name__ == "__main__":
    cli = argparse.ArgumentParser()
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", default="8443")
    cli.add_argument("--cert", default="sample.crt")
    cli.add_argument("--key", default="sample.key")
    args = cli.parse_args()

    sslcontext = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sslcontext.load_cert_chain(args.cert, args.key)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    srv = loop.run_until_complete(
        loop.create_server(HttpRequestHandler, args.host, args.port, ssl=sslcontext)
    )
    print("serving on", srv.sockets[0].getsockname(), flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
