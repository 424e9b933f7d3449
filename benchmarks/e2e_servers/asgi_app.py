"""uvicorn target: a minimal ASGI app (``uvicorn asgi_app:app --lifespan off``)."""

from bodies import CHUNK, CHUNKS, HELLO, STREAM_SIZE

_HELLO_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/html"), (b"content-length", b"18")],
}
_HELLO_BODY = {"type": "http.response.body", "body": HELLO}
_STREAM_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(STREAM_SIZE).encode()),
    ],
}


async def app(scope, receive, send):
    path = scope["path"]
    if path == "/":
        await send(_HELLO_START)
        await send(_HELLO_BODY)
    elif path == "/upload":
        parts = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        reply = b"%d" % sum(len(p) for p in parts)
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(reply))],
        })
        await send({"type": "http.response.body", "body": reply})
    elif path == "/stream":
        await send(_STREAM_START)
        for i in range(CHUNKS):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": i < CHUNKS - 1})
    else:
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
