/*
 * llserver's C glue around llhttp.
 *
 * Strategy: Python crosses into C once per received buffer.  lls_feed() runs
 * llhttp over the whole buffer; llhttp's callbacks (registered here, never in
 * Python) copy the URL and header names/values into two arenas and append
 * integer events (head, body span, end of message) to an event array.  Python
 * then reads the events and the arenas through memoryviews, with no further
 * crossing.  Body bytes are never copied: body events are offsets into the
 * buffer that was fed.
 *
 * Arenas, per head, '\0'-terminated items (llhttp's strict mode rejects NUL in
 * targets and field values, and the glue checks it too):
 *   text arena: URL \0 Title-Name \0 value \0 Title-Name \0 value \0 ...
 *   raw arena:  UPPER-NAME \0 value \0 ...
 * so Python builds `headers` from one decode + split of the text block and
 * `raw_headers` from one split of the raw block.  The raw block alone
 * determines both, which lets Python cache what it built from a raw block
 * and reuse it when the same header section arrives again (keep-alive
 * clients repeat theirs); the URL is then read alone (url_len bytes).
 *
 * Event layout (int64 each):
 *   LLS_EV_HEAD, method, major, minor, flags, content_length,
 *       text_off, text_len, raw_off, raw_len, url_len
 *   LLS_EV_BODY, offset, length          (offset into the fed buffer)
 *   LLS_EV_END                           (message complete)
 *   LLS_EV_STATUS, status, consumed, llhttp_errno, lls_error, in_head
 *                                        (always last; in_head: a request
 *                                        head is partly received)
 */
#ifndef LLSERVER_GLUE_H
#define LLSERVER_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include "llhttp.h"

enum {
    LLS_EV_HEAD = 1,
    LLS_EV_BODY = 2,
    LLS_EV_END = 3,
    LLS_EV_STATUS = 9
};

/* status of one feed */
enum {
    LLS_OK = 0,        /* all bytes consumed */
    LLS_PAUSED = 1,    /* output full: feed again from `consumed` */
    LLS_UPGRADE = 2,   /* bytes from `consumed` on belong to another protocol */
    LLS_ERROR = 3,     /* the request stream is broken at `consumed` */
    LLS_YIELD = 4      /* `budget` messages completed: the rest, from
                          `consumed`, is for a later call */
};

/* head flags */
enum {
    LLS_F_KEEP_ALIVE = 1,
    LLS_F_UPGRADE = 2,
    LLS_F_CHUNKED = 4,
    LLS_F_CONTENT_LENGTH = 8,
    LLS_F_EXPECT_CONTINUE = 16,
    LLS_F_GZIP = 32,
    LLS_F_DEFLATE = 64,
    LLS_F_HAS_BODY = 128
};

/* llserver's own errors, reported beside llhttp's errno */
enum {
    LLS_E_NONE = 0,
    LLS_E_URI_TOO_LONG = 1,        /* 414 */
    LLS_E_HEADERS_TOO_LARGE = 2,   /* 431: header section size */
    LLS_E_FIELD_TOO_LARGE = 3,     /* 431: one field line */
    LLS_E_TOO_MANY_HEADERS = 4,    /* 431: field count */
    LLS_E_BODY_TOO_LARGE = 5,      /* 413 */
    LLS_E_MISSING_HOST = 6,        /* 400, RFC 9112 §3.2 */
    LLS_E_DUPLICATE_HOST = 7,      /* 400, RFC 9112 §3.2 */
    LLS_E_TE_NOT_CHUNKED = 8,      /* 400, RFC 9112 §6.3 */
    LLS_E_TE_UNSUPPORTED = 9,      /* 501, RFC 9112 §6.1 */
    LLS_E_TE_HTTP10 = 10,          /* 400, RFC 9112 §6.1 */
    LLS_E_NUL = 11,                /* 400, RFC 9110 §5.5 */
    LLS_E_VERSION = 12,            /* 505 */
    LLS_E_TRAILERS_TOO_LARGE = 13, /* 431 */
    LLS_E_NO_MEMORY = 14,          /* 500 */
    LLS_E_NO_VERSION = 15          /* 400: HTTP/0.9-style request line */
};

typedef struct lls_parser_s lls_parser;

/* Limits: 0 means "no limit" for max_body only. */
lls_parser *lls_new(uint64_t max_line, uint64_t max_field, uint64_t max_head,
                    uint64_t max_count, uint64_t max_body);
void lls_free(lls_parser *p);

/* Parse data[start:len].  Returns the number of int64 events written; the
 * last event is always LLS_EV_STATUS.  A negative return means the output
 * buffers moved (grew): call lls_buffers() and use -return as the count.
 * With budget > 0 the call stops after completing that many messages
 * (LLS_YIELD), so a server bounds the requests it queues per read. */
int64_t lls_feed(lls_parser *p, const char *data, size_t start, size_t len,
                 uint32_t budget);

/* The peer closed its side: completes a close-delimited message or reports
 * an incomplete one.  Same return convention as lls_feed. */
int64_t lls_finish(lls_parser *p);

/* Current output buffers (valid until the next call that reports a move). */
void lls_buffers(lls_parser *p, int64_t **events, char **text, char **raw,
                 size_t *ev_cap, size_t *text_cap, size_t *raw_cap);

/* After LLS_UPGRADE, when the handler declines the hand-off, continue
 * parsing HTTP from the bytes after the upgrade request. */
void lls_resume_after_upgrade(lls_parser *p);

/* Human-readable reason of the last llhttp error (for debug pages/logs). */
const char *lls_error_reason(lls_parser *p);

/* Name of an llhttp method code, or NULL for a code llhttp does not have. */
const char *lls_method_name(int method);

#endif
