"""The raw asyncio ceiling: a Protocol that answers requests with canned bytes.

    python raw_app.py --port 8080

No parsing: it counts the ends of request heads (``\\r\\n\\r\\n``, also when
split between two reads) and writes one canned response per head, all of a
read's responses in one ``transport.write``.  The first request on a
connection picks the canned response for all of its requests by its path
(every scenario of benchmarks/e2e.py keeps to one path per connection), and a
``Connection: close`` in it makes the server close after each answer.
Request bodies (the 64 KiB upload is all ``x``) are skipped by the same count:
it is a ceiling, not a server.
"""

import argparse
import asyncio

from bodies import CHUNK, CHUNKS, HELLO, STREAM_SIZE, UPLOAD_SIZE

END = b"\r\n\r\n"


def _canned(status: str, ctype: str, body: bytes, close: bool = False) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n")
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


RESPONSES = {
    b"/": _canned("200 OK", "text/html", HELLO),
    b"/upload": _canned("200 OK", "text/plain", b"%d" % UPLOAD_SIZE),
    b"/stream": _canned("200 OK", "application/octet-stream", CHUNK * CHUNKS),
}
assert len(RESPONSES[b"/stream"]) > STREAM_SIZE
HELLO_CLOSE = _canned("200 OK", "text/html", HELLO, close=True)


class Canned(asyncio.Protocol):
    __slots__ = ("transport", "reply", "close", "tail")

    def connection_made(self, transport):
        self.transport = transport
        self.reply = None
        self.close = False
        self.tail = b""

    def data_received(self, data):
        if self.reply is None:
            line = data[: data.find(b"\r\n")].split(b" ")
            self.close = b"\r\nConnection: close\r\n" in data
            self.reply = HELLO_CLOSE if self.close else RESPONSES.get(
                line[1] if len(line) > 1 else b"/", RESPONSES[b"/"])
        n = data.count(END)
        if self.tail:
            n += (self.tail + data[:3]).count(END)
        self.tail = data[-3:] if len(data) >= 3 else (self.tail + data)[-3:]
        if n:
            self.transport.write(self.reply * n if n > 1 else self.reply)
            if self.close:
                self.transport.close()


def main() -> None:
    cli = argparse.ArgumentParser()
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    args = cli.parse_args()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(Canned, args.host, args.port))
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
