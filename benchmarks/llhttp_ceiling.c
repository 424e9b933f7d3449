/*
 * The ceiling for parser_bench.py: llhttp driven from plain C.
 *
 * It does the work workload (a) asks of every parser, minus Python: for each
 * request it records the method and the spans of the URL and of every header
 * name and value (pointers into the fed buffer, joined when llhttp reports a
 * span in pieces), and hands the finished head to a consumer that folds it
 * into a checksum so the compiler cannot drop the work.  No copies, no
 * allocation: that is the bound a binding can approach, not reach.
 *
 * Input (a file, or "-" for stdin): a sequence of feeds, each a 4-byte
 * little-endian length followed by that many bytes.  Every feed is handed to
 * one llhttp_execute() call of the same parser, as one read() of a kept-alive
 * connection would be.
 *
 * Usage: llhttp_ceiling CORPUS [SECONDS] [ROUNDS] [wall|cpu]
 * The clock is wall time (default) or this process's CPU time, which a busy
 * shared machine disturbs less.  Prints one line per round:
 *   rps=<requests/s> requests=<n> seconds=<s> messages_per_pass=<m> headers_per_pass=<h>
 * Each round uses a fresh parser and runs whole passes over the corpus until
 * SECONDS (default 0.3) have elapsed; every loop is bounded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llhttp.h"

#define MAX_HEADERS 128
#define MAX_PASSES 100000000ULL

typedef struct {
    const char *at;
    size_t len;
} span_t;

typedef struct {
    llhttp_t http;
    int method;
    span_t url;
    span_t name[MAX_HEADERS];
    span_t value[MAX_HEADERS];
    size_t nheaders;
    int too_many;
    /* consumer side */
    uint64_t messages;
    uint64_t headers;
    uint64_t checksum;
} ceiling_t;

/* Extend a span with the next piece llhttp reports; pieces of one span are
 * adjacent whenever they come from the same feed, which is the only case the
 * corpus produces (whole requests per feed).  A piece from a new feed would
 * need a copy; we only note it. */
static void span_add(span_t *s, const char *at, size_t len) {
    if (s->len == 0) {
        s->at = at;
        s->len = len;
    } else if (s->at + s->len == at) {
        s->len += len;
    } else {
        s->len += len; /* discontiguous: would be copied by a real server */
    }
}

static int on_message_begin(llhttp_t *h) {
    ceiling_t *c = (ceiling_t *)h;
    c->url.len = 0;
    c->nheaders = 0;
    c->name[0].len = 0;
    c->value[0].len = 0;
    return 0;
}

static int on_url(llhttp_t *h, const char *at, size_t len) {
    span_add(&((ceiling_t *)h)->url, at, len);
    return 0;
}

static int on_header_field(llhttp_t *h, const char *at, size_t len) {
    ceiling_t *c = (ceiling_t *)h;
    span_add(&c->name[c->nheaders], at, len);
    return 0;
}

static int on_header_value(llhttp_t *h, const char *at, size_t len) {
    ceiling_t *c = (ceiling_t *)h;
    span_add(&c->value[c->nheaders], at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *h) {
    ceiling_t *c = (ceiling_t *)h;
    if (c->nheaders + 1 >= MAX_HEADERS) {
        c->too_many = 1;
        return -1;
    }
    c->nheaders++;
    c->name[c->nheaders].len = 0;
    c->value[c->nheaders].len = 0;
    return 0;
}

/* The consumer: what a server would do with the head, reduced to touching
 * every recorded span once. */
static int on_headers_complete(llhttp_t *h) {
    ceiling_t *c = (ceiling_t *)h;
    uint64_t sum = (uint64_t)llhttp_get_method(h) + c->url.len + (unsigned char)c->url.at[0];
    for (size_t i = 0; i < c->nheaders; i++) {
        sum += c->name[i].len * 31 + c->value[i].len + (unsigned char)c->name[i].at[0];
    }
    c->checksum += sum;
    c->headers += c->nheaders;
    return 0;
}

static int on_message_complete(llhttp_t *h) {
    ((ceiling_t *)h)->messages++;
    return 0;
}

typedef struct {
    unsigned char *data;
    size_t len;
    const char **feed;
    size_t *feed_len;
    size_t nfeeds;
} corpus_t;

static int read_all(FILE *f, corpus_t *cp) {
    size_t cap = 1 << 20;
    cp->data = malloc(cap);
    cp->len = 0;
    if (cp->data == NULL) return -1;
    for (;;) {
        if (cp->len == cap) {
            if (cap >= ((size_t)1 << 31)) return -1; /* 2 GiB is no benchmark corpus */
            cap *= 2;
            unsigned char *d = realloc(cp->data, cap);
            if (d == NULL) return -1;
            cp->data = d;
        }
        size_t n = fread(cp->data + cp->len, 1, cap - cp->len, f);
        if (n == 0) break;
        cp->len += n;
    }
    /* index the feeds */
    size_t count = 0, off = 0;
    while (off + 4 <= cp->len) {
        uint32_t n = cp->data[off] | cp->data[off + 1] << 8 | cp->data[off + 2] << 16 |
                     (uint32_t)cp->data[off + 3] << 24;
        if (off + 4 + n > cp->len) return -1;
        off += 4 + n;
        count++;
    }
    if (off != cp->len || count == 0) return -1;
    cp->feed = malloc(count * sizeof(char *));
    cp->feed_len = malloc(count * sizeof(size_t));
    if (cp->feed == NULL || cp->feed_len == NULL) return -1;
    off = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t n = cp->data[off] | cp->data[off + 1] << 8 | cp->data[off + 2] << 16 |
                     (uint32_t)cp->data[off + 3] << 24;
        cp->feed[i] = (const char *)cp->data + off + 4;
        cp->feed_len[i] = n;
        off += 4 + n;
    }
    cp->nfeeds = count;
    return 0;
}

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_pass(ceiling_t *c, const corpus_t *cp) {
    for (size_t i = 0; i < cp->nfeeds; i++) {
        llhttp_errno_t err = llhttp_execute(&c->http, cp->feed[i], cp->feed_len[i]);
        if (err != HPE_OK) {
            fprintf(stderr, "llhttp error in feed %zu: %s (%s)\n", i, llhttp_errno_name(err),
                    llhttp_get_error_reason(&c->http));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: %s CORPUS|- [SECONDS] [ROUNDS] [wall|cpu]\n", argv[0]);
        return 2;
    }
    if (argc > 4 && strcmp(argv[4], "cpu") == 0) {
        clock_id = CLOCK_PROCESS_CPUTIME_ID;
    } else if (argc > 4 && strcmp(argv[4], "wall") != 0) {
        fprintf(stderr, "the clock is wall or cpu\n");
        return 2;
    }
    double budget = argc > 2 ? atof(argv[2]) : 0.3;
    long rounds = argc > 3 ? atol(argv[3]) : 1;
    if (budget <= 0 || budget > 600 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "SECONDS must be in (0, 600], ROUNDS in [1, 1000]\n");
        return 2;
    }
    FILE *f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    corpus_t cp;
    if (f == NULL || read_all(f, &cp) != 0) {
        fprintf(stderr, "cannot read a corpus of length-prefixed feeds from %s\n", argv[1]);
        return 2;
    }

    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_message_complete = on_message_complete;

    ceiling_t *c = calloc(1, sizeof(ceiling_t));
    if (c == NULL) return 2;
    uint64_t checksum = 0;
    for (long r = 0; r < rounds; r++) {
        memset(c, 0, sizeof(*c));
        llhttp_init(&c->http, HTTP_REQUEST, &settings);
        /* one untimed pass: warms the caches and counts the corpus */
        if (run_pass(c, &cp) != 0) return 1;
        uint64_t per_pass = c->messages, headers_per_pass = c->headers;
        uint64_t passes = 0;
        double t0 = now(), t = t0, deadline = t0 + budget;
        while (passes < MAX_PASSES) {
            if (run_pass(c, &cp) != 0) return 1;
            passes++;
            t = now();
            if (t >= deadline) break;
        }
        uint64_t requests = c->messages - per_pass;
        checksum += c->checksum;
        printf("rps=%.1f requests=%llu seconds=%.6f messages_per_pass=%llu headers_per_pass=%llu\n",
               requests / (t - t0), (unsigned long long)requests, t - t0,
               (unsigned long long)per_pass, (unsigned long long)headers_per_pass);
    }
    fprintf(stderr, "checksum %llu\n", (unsigned long long)checksum);
    return 0;
}
