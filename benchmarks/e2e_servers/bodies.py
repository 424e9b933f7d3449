"""What every end-to-end target answers, so that all of them do the same work.

    GET /         the hello page (18 bytes, text/html)
    POST /upload  reads the whole body, answers its length in decimal
    GET /stream   1 MiB in 16 writes of 64 KiB, with a Content-Length
"""

HELLO = b"<h1>It Works!</h1>"
UPLOAD_SIZE = 64 * 1024  # what the load generator posts
CHUNK = b"x" * (64 * 1024)
CHUNKS = 16
STREAM_SIZE = len(CHUNK) * CHUNKS
