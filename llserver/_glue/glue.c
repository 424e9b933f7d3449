/*
 * llserver's C glue: llhttp callbacks that collect whole messages in C.
 * See glue.h for the strategy and the event layout.
 *
 * Size accounting uses positions, not span lengths: every byte of a request
 * head (including whitespace that llhttp skips without a callback) counts
 * towards the limits, so a head padded with a megabyte of spaces is refused
 * like any other over-long head.
 */
#include <stdlib.h>
#include <string.h>

#include "glue.h"

enum { PH_IDLE = 0, PH_LINE, PH_HEADERS, PH_BODY, PH_TRAILERS };
enum { SP_NONE = 0, SP_NAME, SP_VALUE };
enum {
    NAME_OTHER = 0, NAME_HOST, NAME_EXPECT, NAME_CONTENT_ENCODING,
    NAME_TRANSFER_ENCODING
};

#define EV_INITIAL 256
#define EV_RESERVE 16 /* one head + status always fit */
#define EV_PAUSE_AT 4096 /* body events per feed before pausing */
#define ARENA_INITIAL 2048
#define ARENA_SHRINK_ABOVE 65536

typedef struct {
    char *buf;
    size_t len, cap;
    size_t head;  /* start of the head being collected */
    size_t item;  /* start of the current name or value */
} arena_t;

struct lls_parser_s {
    llhttp_t http;
    llhttp_settings_t settings;

    uint64_t max_line, max_field, max_head, max_count, max_body;

    int64_t *ev;
    size_t nev, ev_cap;
    arena_t text, raw;
    int moved; /* output buffers were reallocated during this call */

    /* current message */
    int phase, span, name_kind, title_upper;
    uint32_t nheaders, nhost;
    int64_t flags;
    int te_seen, te_chunked, te_last_chunked, te_other, te_twice;
    uint64_t counted;      /* head (or trailer) bytes so far */
    uint64_t field_start;  /* `counted` when the current field line began */
    uint64_t url_len, body_seen;
    int fresh;             /* message began, no byte position known yet */

    /* current buffer */
    const char *buf, *last_end;
    int err;
    uint32_t budget, completed; /* messages this call may complete / did */
    int yielded;
    int stopped_after_message; /* the last feed yielded right after a message */
};

/* ---- output helpers ---------------------------------------------------- */

static int ev_reserve(lls_parser *p, size_t n) {
    if (p->nev + n <= p->ev_cap) return 0;
    size_t cap = p->ev_cap * 2;
    while (cap < p->nev + n) cap *= 2;
    int64_t *ev = realloc(p->ev, cap * sizeof(int64_t));
    if (ev == NULL) return -1;
    p->ev = ev;
    p->ev_cap = cap;
    p->moved = 1;
    return 0;
}

static int arena_reserve(lls_parser *p, arena_t *a, size_t n) {
    if (a->len + n <= a->cap) return 0;
    size_t cap = a->cap * 2;
    while (cap < a->len + n) cap *= 2;
    char *buf = realloc(a->buf, cap);
    if (buf == NULL) return -1;
    a->buf = buf;
    a->cap = cap;
    p->moved = 1;
    return 0;
}

static void arena_shrink(lls_parser *p, arena_t *a) {
    if (a->len == 0 && a->cap > ARENA_SHRINK_ABOVE) {
        char *buf = realloc(a->buf, ARENA_INITIAL);
        if (buf != NULL) {
            a->buf = buf;
            a->cap = ARENA_INITIAL;
            p->moved = 1;
        }
    }
}

/* Keep only the head still being collected (it continues in this feed). */
static void arena_compact(arena_t *a, int keep) {
    if (!keep) {
        a->len = a->head = a->item = 0;
        return;
    }
    if (a->head > 0) {
        memmove(a->buf, a->buf + a->head, a->len - a->head);
        a->len -= a->head;
        a->item -= a->head;
        a->head = 0;
    }
}

static int fail(lls_parser *p, int err) {
    p->err = err;
    return HPE_USER;
}

/* ---- size accounting --------------------------------------------------- */

/* Count the bytes from the previous known position up to `end`. */
static void count_to(lls_parser *p, const char *at, const char *end) {
    if (p->fresh) {
        p->fresh = 0;
        p->counted += (uint64_t)(end - at);
    } else {
        const char *from = p->last_end ? p->last_end : p->buf;
        p->counted += (uint64_t)(end - from);
    }
    p->last_end = end;
}

static int check_head(lls_parser *p) {
    if (p->phase == PH_LINE) {
        if (p->counted > p->max_line) return LLS_E_URI_TOO_LONG;
    } else if (p->phase == PH_HEADERS) {
        if (p->counted > p->max_head) return LLS_E_HEADERS_TOO_LARGE;
        if (p->span != SP_NONE && p->counted - p->field_start > p->max_field)
            return LLS_E_FIELD_TOO_LARGE;
    } else if (p->phase == PH_TRAILERS) {
        if (p->counted > p->max_head) return LLS_E_TRAILERS_TOO_LARGE;
    }
    return LLS_E_NONE;
}

/* ---- llhttp callbacks -------------------------------------------------- */

#define SELF(s) ((lls_parser *)(s)->data)

static int on_message_begin(llhttp_t *s) {
    lls_parser *p = SELF(s);
    p->phase = PH_LINE;
    p->span = SP_NONE;
    p->nheaders = p->nhost = 0;
    p->flags = 0;
    p->te_seen = p->te_chunked = p->te_last_chunked = 0;
    p->te_other = p->te_twice = 0;
    p->counted = p->url_len = p->body_seen = 0;
    p->fresh = 1;
    p->text.head = p->text.len;
    p->raw.head = p->raw.len;
    return 0;
}

static int on_method(llhttp_t *s, const char *at, size_t len) {
    lls_parser *p = SELF(s);
    count_to(p, at, at + len);
    return 0;
}

static int on_url(llhttp_t *s, const char *at, size_t len) {
    lls_parser *p = SELF(s);
    count_to(p, at, at + len);
    p->url_len += len;
    if (p->counted > p->max_line) return fail(p, LLS_E_URI_TOO_LONG);
    if (memchr(at, 0, len) != NULL) return fail(p, LLS_E_NUL);
    if (arena_reserve(p, &p->text, len + 1) < 0) return fail(p, LLS_E_NO_MEMORY);
    memcpy(p->text.buf + p->text.len, at, len);
    p->text.len += len;
    return 0;
}

static int on_url_complete(llhttp_t *s) {
    lls_parser *p = SELF(s);
    if (arena_reserve(p, &p->text, 1) < 0) return fail(p, LLS_E_NO_MEMORY);
    p->text.buf[p->text.len++] = '\0';
    return 0;
}

static int on_version(llhttp_t *s, const char *at, size_t len) {
    lls_parser *p = SELF(s);
    count_to(p, at, at + len);
    if (p->counted > p->max_line) return fail(p, LLS_E_URI_TOO_LONG);
    return 0;
}

static int on_version_complete(llhttp_t *s) {
    lls_parser *p = SELF(s);
    if (s->http_major != 1) return fail(p, LLS_E_VERSION);
    p->phase = PH_HEADERS;
    return 0;
}

static int on_header_field(llhttp_t *s, const char *at, size_t len) {
    lls_parser *p = SELF(s);
    uint64_t before = p->counted;
    count_to(p, at, at + len);
    if (p->phase == PH_TRAILERS) {
        p->span = SP_NAME;
        return check_head(p) ? fail(p, LLS_E_TRAILERS_TOO_LARGE) : 0;
    }
    if (p->span != SP_NAME) {
        p->span = SP_NAME;
        p->field_start = before;
        p->title_upper = 1;
        if (++p->nheaders > p->max_count) return fail(p, LLS_E_TOO_MANY_HEADERS);
        p->text.item = p->text.len;
        p->raw.item = p->raw.len;
    }
    int e = check_head(p);
    if (e) return fail(p, e);
    if (arena_reserve(p, &p->text, len + 1) < 0 ||
        arena_reserve(p, &p->raw, len + 1) < 0)
        return fail(p, LLS_E_NO_MEMORY);
    /* RFC 9110 §5.1: names are case-insensitive; aiohttp 1.1 presented them
     * title-cased in `headers` and upper-cased in `raw_headers`. */
    unsigned char *t = (unsigned char *)p->text.buf + p->text.len;
    unsigned char *r = (unsigned char *)p->raw.buf + p->raw.len;
    int upper = p->title_upper;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        unsigned char lo = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
        unsigned char up = (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
        int alpha = (lo >= 'a' && lo <= 'z');
        t[i] = (upper && alpha) ? up : lo;
        r[i] = up;
        upper = !alpha;
    }
    p->title_upper = upper;
    p->text.len += len;
    p->raw.len += len;
    return 0;
}

static int name_is(const lls_parser *p, const char *upper, size_t n) {
    return p->raw.len - p->raw.item == n &&
           memcmp(p->raw.buf + p->raw.item, upper, n) == 0;
}

static int on_header_field_complete(llhttp_t *s) {
    lls_parser *p = SELF(s);
    if (p->phase == PH_TRAILERS) return 0;
    p->name_kind = NAME_OTHER;
    switch (p->raw.len - p->raw.item) {
    case 4:
        if (name_is(p, "HOST", 4)) p->name_kind = NAME_HOST;
        break;
    case 6:
        if (name_is(p, "EXPECT", 6)) p->name_kind = NAME_EXPECT;
        break;
    case 16:
        if (name_is(p, "CONTENT-ENCODING", 16)) p->name_kind = NAME_CONTENT_ENCODING;
        break;
    case 17:
        if (name_is(p, "TRANSFER-ENCODING", 17)) p->name_kind = NAME_TRANSFER_ENCODING;
        break;
    }
    if (p->name_kind == NAME_HOST) p->nhost++;
    if (arena_reserve(p, &p->text, 1) < 0 || arena_reserve(p, &p->raw, 1) < 0)
        return fail(p, LLS_E_NO_MEMORY);
    p->text.buf[p->text.len++] = '\0';
    p->raw.buf[p->raw.len++] = '\0';
    return 0;
}

static int on_header_value(llhttp_t *s, const char *at, size_t len) {
    lls_parser *p = SELF(s);
    count_to(p, at, at + len);
    if (p->phase == PH_TRAILERS) {
        p->span = SP_VALUE;
        return check_head(p) ? fail(p, LLS_E_TRAILERS_TOO_LARGE) : 0;
    }
    if (p->span != SP_VALUE) {
        p->span = SP_VALUE;
        p->text.item = p->text.len;
        p->raw.item = p->raw.len;
    }
    int e = check_head(p);
    if (e) return fail(p, e);
    if (memchr(at, 0, len) != NULL) return fail(p, LLS_E_NUL);
    if (arena_reserve(p, &p->text, len + 1) < 0 ||
        arena_reserve(p, &p->raw, len + 1) < 0)
        return fail(p, LLS_E_NO_MEMORY);
    memcpy(p->text.buf + p->text.len, at, len);
    memcpy(p->raw.buf + p->raw.len, at, len);
    p->text.len += len;
    p->raw.len += len;
    return 0;
}

/* ASCII case-insensitive comparison of a value with a lower-case literal. */
static int value_is(const char *v, size_t n, const char *lower) {
    size_t m = strlen(lower);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != lower[i]) return 0;
    }
    return 1;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* RFC 9112 §6.1/§6.3 and §7: only `chunked`, applied once and last, is a
 * transfer coding this server decodes. */
static void scan_transfer_encoding(lls_parser *p, const char *v, size_t n) {
    size_t i = 0;
    p->te_seen = 1;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ',')) i++;
        size_t start = i;
        while (i < n && v[i] != ',' && v[i] != ';') i++;
        size_t end = i;
        while (end > start && is_ows(v[end - 1])) end--;
        while (i < n && v[i] != ',') i++; /* skip parameters */
        if (end == start) continue;
        if (value_is(v + start, end - start, "chunked")) {
            if (p->te_chunked) p->te_twice = 1;
            p->te_chunked = 1;
            p->te_last_chunked = 1;
        } else {
            p->te_other = 1;
            p->te_last_chunked = 0;
        }
    }
}

static int on_header_value_complete(llhttp_t *s) {
    lls_parser *p = SELF(s);
    if (p->phase == PH_TRAILERS) {
        p->span = SP_NONE;
        return 0;
    }
    if (p->span != SP_VALUE) { /* empty value: no on_header_value call */
        p->text.item = p->text.len;
        p->raw.item = p->raw.len;
    }
    p->span = SP_NONE;
    /* RFC 9110 §5.5: surrounding whitespace is not part of the value. */
    while (p->text.len > p->text.item && is_ows(p->text.buf[p->text.len - 1])) {
        p->text.len--;
        p->raw.len--;
    }
    const char *v = p->text.buf + p->text.item;
    size_t n = p->text.len - p->text.item;
    switch (p->name_kind) {
    case NAME_EXPECT:
        if (value_is(v, n, "100-continue")) p->flags |= LLS_F_EXPECT_CONTINUE;
        break;
    case NAME_CONTENT_ENCODING:
        if (value_is(v, n, "gzip") || value_is(v, n, "x-gzip")) /* RFC 9110 §8.4.1.3 */
            p->flags = (p->flags & ~LLS_F_DEFLATE) | LLS_F_GZIP;
        else if (value_is(v, n, "deflate"))
            p->flags = (p->flags & ~LLS_F_GZIP) | LLS_F_DEFLATE;
        break;
    case NAME_TRANSFER_ENCODING:
        scan_transfer_encoding(p, v, n);
        break;
    }
    if (arena_reserve(p, &p->text, 1) < 0 || arena_reserve(p, &p->raw, 1) < 0)
        return fail(p, LLS_E_NO_MEMORY);
    p->text.buf[p->text.len++] = '\0';
    p->raw.buf[p->raw.len++] = '\0';
    return 0;
}

static int on_headers_complete(llhttp_t *s) {
    lls_parser *p = SELF(s);
    int e = check_head(p);
    if (e) return fail(p, e);
    /* "GET /" with no version is HTTP/0.9, which has no place in HTTP/1.1
     * (RFC 9112 §3: the request line always ends with HTTP-version). */
    if (s->http_major != 1) return fail(p, LLS_E_NO_VERSION);
    /* RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host. */
    if (p->nhost > 1) return fail(p, LLS_E_DUPLICATE_HOST);
    if (p->nhost == 0 && s->http_minor >= 1) return fail(p, LLS_E_MISSING_HOST);
    if (p->te_seen) {
        if (s->http_minor == 0) return fail(p, LLS_E_TE_HTTP10);
        if (!p->te_last_chunked || p->te_twice) return fail(p, LLS_E_TE_NOT_CHUNKED);
        if (p->te_other) return fail(p, LLS_E_TE_UNSUPPORTED);
    }
    int64_t flags = p->flags;
    int64_t length = -1;
    if (llhttp_should_keep_alive(s)) flags |= LLS_F_KEEP_ALIVE;
    if (s->upgrade) flags |= LLS_F_UPGRADE;
    if (s->flags & F_CHUNKED && !(s->upgrade && s->method == HTTP_CONNECT))
        flags |= LLS_F_CHUNKED | LLS_F_HAS_BODY;
    if (s->flags & F_CONTENT_LENGTH) {
        flags |= LLS_F_CONTENT_LENGTH;
        length = (int64_t)s->content_length;
        /* RFC 9110 §9.3.6: a CONNECT request has no content; llhttp hands
         * what follows its head to the tunnel whatever Content-Length says. */
        if (s->content_length > 0 && !(s->upgrade && s->method == HTTP_CONNECT))
            flags |= LLS_F_HAS_BODY;
        if (p->max_body && s->content_length > p->max_body)
            return fail(p, LLS_E_BODY_TOO_LARGE);
    }
    if (ev_reserve(p, 11 + EV_RESERVE) < 0) return fail(p, LLS_E_NO_MEMORY);
    int64_t *ev = p->ev + p->nev;
    ev[0] = LLS_EV_HEAD;
    ev[1] = s->method;
    ev[2] = s->http_major;
    ev[3] = s->http_minor;
    ev[4] = flags;
    ev[5] = length;
    ev[6] = (int64_t)p->text.head;
    ev[7] = (int64_t)(p->text.len - p->text.head);
    ev[8] = (int64_t)p->raw.head;
    ev[9] = (int64_t)(p->raw.len - p->raw.head);
    ev[10] = (int64_t)p->url_len;
    p->nev += 11;
    p->phase = PH_BODY;
    return 0;
}

static int on_body(llhttp_t *s, const char *at, size_t len) {
    lls_parser *p = SELF(s);
    p->last_end = at + len;
    p->body_seen += len;
    if (p->max_body && p->body_seen > p->max_body) return fail(p, LLS_E_BODY_TOO_LARGE);
    if (ev_reserve(p, 3 + EV_RESERVE) < 0) return fail(p, LLS_E_NO_MEMORY);
    int64_t *ev = p->ev + p->nev;
    ev[0] = LLS_EV_BODY;
    ev[1] = (int64_t)(at - p->buf);
    ev[2] = (int64_t)len;
    p->nev += 3;
    return 0;
}

static int on_chunk_header(llhttp_t *s) {
    lls_parser *p = SELF(s);
    if (s->content_length == 0) {
        /* last-chunk: what follows is the trailer section (RFC 9112 §7.1.2),
         * bounded like the head. */
        p->phase = PH_TRAILERS;
        p->counted = 0;
        p->span = SP_NONE;
        return 0;
    }
    /* Many tiny chunks in one buffer: hand what we have to Python first. */
    if (p->nev > EV_PAUSE_AT) return HPE_PAUSED;
    return 0;
}

static int on_message_complete(llhttp_t *s) {
    lls_parser *p = SELF(s);
    if (ev_reserve(p, 1 + EV_RESERVE) < 0) return fail(p, LLS_E_NO_MEMORY);
    p->ev[p->nev++] = LLS_EV_END;
    p->phase = PH_IDLE;
    p->span = SP_NONE;
    /* Never on an upgrade (CONNECT too): llhttp stops there by itself with
     * HPE_PAUSED_UPGRADE, which a pause of ours would hide. */
    if (p->budget && ++p->completed >= p->budget && !s->upgrade) {
        p->yielded = 1;
        return HPE_PAUSED;
    }
    if (p->nev > EV_PAUSE_AT) return HPE_PAUSED;
    return 0;
}

/* ---- public API -------------------------------------------------------- */

lls_parser *lls_new(uint64_t max_line, uint64_t max_field, uint64_t max_head,
                    uint64_t max_count, uint64_t max_body) {
    lls_parser *p = calloc(1, sizeof(*p));
    if (p == NULL) return NULL;
    p->ev = malloc(EV_INITIAL * sizeof(int64_t));
    p->text.buf = malloc(ARENA_INITIAL);
    p->raw.buf = malloc(ARENA_INITIAL);
    if (p->ev == NULL || p->text.buf == NULL || p->raw.buf == NULL) {
        lls_free(p);
        return NULL;
    }
    p->ev_cap = EV_INITIAL;
    p->text.cap = p->raw.cap = ARENA_INITIAL;
    p->max_line = max_line;
    p->max_field = max_field;
    p->max_head = max_head;
    p->max_count = max_count;
    p->max_body = max_body;

    llhttp_settings_init(&p->settings);
    p->settings.on_message_begin = on_message_begin;
    p->settings.on_method = on_method;
    p->settings.on_url = on_url;
    p->settings.on_url_complete = on_url_complete;
    p->settings.on_version = on_version;
    p->settings.on_version_complete = on_version_complete;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_field_complete = on_header_field_complete;
    p->settings.on_header_value = on_header_value;
    p->settings.on_header_value_complete = on_header_value_complete;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_chunk_header = on_chunk_header;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->http, HTTP_REQUEST, &p->settings);
    p->http.data = p;
    /* The one lenient flag, for RFC 9110 §2.5/§15.6.6: llhttp would reject
     * any version but 0.9/1.0/1.1/2.0 as malformed (400); the glue wants to
     * see it, to answer 505 for a major version other than 1 and to serve
     * HTTP/1.x (x > 1) as HTTP/1.1.  The syntax (HTTP/<digit>.<digit>)
     * stays strict. */
    llhttp_set_lenient_version(&p->http, 1);
    return p;
}

void lls_free(lls_parser *p) {
    if (p == NULL) return;
    free(p->ev);
    free(p->text.buf);
    free(p->raw.buf);
    free(p);
}

void lls_buffers(lls_parser *p, int64_t **events, char **text, char **raw,
                 size_t *ev_cap, size_t *text_cap, size_t *raw_cap) {
    *events = p->ev;
    *text = p->text.buf;
    *raw = p->raw.buf;
    *ev_cap = p->ev_cap;
    *text_cap = p->text.cap;
    *raw_cap = p->raw.cap;
}

static void begin_call(lls_parser *p) {
    int keep = p->phase == PH_LINE || p->phase == PH_HEADERS;
    p->nev = 0;
    p->moved = 0;
    arena_compact(&p->text, keep);
    arena_compact(&p->raw, keep);
    arena_shrink(p, &p->text);
    arena_shrink(p, &p->raw);
}

static int64_t end_call(lls_parser *p, llhttp_errno_t e, size_t consumed) {
    int64_t status;
    switch (e) {
    case HPE_OK:
        status = LLS_OK;
        break;
    case HPE_PAUSED:
        llhttp_resume(&p->http);
        status = p->yielded ? LLS_YIELD : LLS_PAUSED;
        p->stopped_after_message = p->yielded;
        p->yielded = 0;
        break;
    case HPE_PAUSED_UPGRADE:
        status = LLS_UPGRADE;
        break;
    case HPE_PAUSED_H2_UPGRADE:
        /* "PRI * HTTP/2.0": the HTTP/2 preface, not HTTP/1.x */
        status = LLS_ERROR;
        p->err = LLS_E_VERSION;
        break;
    default:
        status = LLS_ERROR;
        break;
    }
    /* ev_reserve keeps EV_RESERVE free slots after every event */
    if (ev_reserve(p, 6) < 0) return 0;
    int64_t *ev = p->ev + p->nev;
    ev[0] = LLS_EV_STATUS;
    ev[1] = status;
    ev[2] = (int64_t)consumed;
    ev[3] = e;
    ev[4] = p->err;
    ev[5] = p->phase == PH_LINE || p->phase == PH_HEADERS; /* mid-head */
    p->nev += 6;
    return p->moved ? -(int64_t)p->nev : (int64_t)p->nev;
}

int64_t lls_feed(lls_parser *p, const char *data, size_t start, size_t len,
                 uint32_t budget) {
    begin_call(p);
    if (len > start) p->stopped_after_message = 0;
    p->budget = budget;
    p->completed = 0;
    if (p->err) /* a limit already broke this stream */
        return end_call(p, HPE_USER, start);
    p->buf = data;
    p->last_end = data + start;
    llhttp_errno_t e = llhttp_execute(&p->http, data + start, len - start);
    size_t consumed = len;
    if (e != HPE_OK) {
        const char *pos = llhttp_get_error_pos(&p->http);
        consumed = pos ? (size_t)(pos - data) : start;
    } else if (p->phase == PH_LINE || p->phase == PH_HEADERS ||
               p->phase == PH_TRAILERS) {
        /* Bytes llhttp consumed without a callback (e.g. whitespace runs)
         * still count towards the limits. */
        if (!p->fresh) count_to(p, data + len, data + len);
        int err = check_head(p);
        if (err) {
            p->err = err;
            e = HPE_USER;
        }
    }
    p->buf = NULL;
    p->last_end = NULL;
    return end_call(p, e, consumed);
}

int64_t lls_finish(lls_parser *p) {
    begin_call(p);
    if (p->err) return end_call(p, HPE_USER, 0);
    if (p->stopped_after_message && p->phase == PH_IDLE) {
        /* llhttp stopped inside its end-of-message transition (the yield)
         * and saw no byte since: the input ended between two requests. */
        return end_call(p, HPE_OK, 0);
    }
    llhttp_errno_t e = llhttp_finish(&p->http);
    return end_call(p, e, 0);
}

void lls_resume_after_upgrade(lls_parser *p) {
    llhttp_resume_after_upgrade(&p->http);
}

const char *lls_error_reason(lls_parser *p) {
    const char *r = llhttp_get_error_reason(&p->http);
    return r ? r : "";
}

const char *lls_method_name(int method) {
#define LLS_METHOD_NAME(NUM, NAME, STRING) case NUM: return #STRING;
    switch (method) {
        HTTP_ALL_METHOD_MAP(LLS_METHOD_NAME)
    default:
        return NULL;
    }
#undef LLS_METHOD_NAME
}
