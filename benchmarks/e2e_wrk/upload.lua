-- wrk script of benchmarks/e2e.py: POST 64 KiB that the handler reads whole.
-- wrk.format() adds the Content-Length of the body.
wrk.method = "POST"
wrk.body = string.rep("x", 64 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
