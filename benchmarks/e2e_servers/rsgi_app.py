"""granian target: a minimal RSGI app (``granian --interface rsgi rsgi_app:app``)."""

from bodies import CHUNK, CHUNKS, HELLO, STREAM_SIZE

_HELLO_HEADERS = [("content-type", "text/html")]
_STREAM_HEADERS = [("content-type", "application/octet-stream"), ("content-length", str(STREAM_SIZE))]


async def app(scope, proto):
    path = scope.path
    if path == "/":
        proto.response_bytes(200, _HELLO_HEADERS, HELLO)
    elif path == "/upload":
        body = await proto()
        proto.response_bytes(200, [("content-type", "text/plain")], b"%d" % len(body))
    elif path == "/stream":
        transport = proto.response_stream(200, _STREAM_HEADERS)
        for _ in range(CHUNKS):
            await transport.send_bytes(CHUNK)
    else:
        proto.response_empty(404, [])
