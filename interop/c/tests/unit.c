/*
 * Unit tests of the C library, run per backend and under AddressSanitizer + UBSan (tests/test_c.py).
 * Known answers (RFC 4231 HMAC, the vector file's derived keys), strict decoding, exact buffer sizes with
 * canary bytes after them, malformed and random input that must never write past the stated size, in-place
 * operation, resync (with its waiting time) and the replay window, the lean form, the trailing-newline rule, the
 * text cap, and that the decoders stop at the first byte that condemns the input (guard pages).
 */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS, sysconf (the guard-page tests) under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iote_backend.h"
#include "iotenvelope.h"

static int checks;
static int failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        checks++;                                                                                            \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                       \
        }                                                                                                    \
    } while (0)

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = strlen(s) / 2;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static int eq_hex(const uint8_t *got, size_t n, const char *want)
{
    uint8_t w[256];
    return unhex(want, w) == n && memcmp(got, w, n) == 0;
}

#define CANARY 0xC5
#define GUARD 32

/* a heap block of exactly n bytes followed by GUARD canary bytes */
static uint8_t *guarded(size_t n, uint8_t fill)
{
    uint8_t *p = (uint8_t *)malloc(n + GUARD);
    memset(p, fill, n);
    memset(p + n, CANARY, GUARD);
    return p;
}

static int guard_ok(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < GUARD; i++) {
        if (p[n + i] != CANARY) {
            return 0;
        }
    }
    return 1;
}

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_hmac(void)
{
    uint8_t key[131];
    uint8_t out[32];
    memset(key, 0x0b, 20);
    iote_hmac_sha256(key, 20, (const uint8_t *)"Hi There", 8, out); /* RFC 4231 case 1 */
    CHECK(eq_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    iote_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28, out);
    CHECK(eq_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    memset(key, 0xaa, sizeof key); /* case 6: a key longer than the block */
    iote_hmac_sha256(key, sizeof key, (const uint8_t *)"Test Using Larger Than Block-Size Key - Hash Key First", 54,
                     out);
    CHECK(eq_hex(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

static void test_keys(void)
{
    iote_keys k;
    uint8_t secret[32] = {0};
    CHECK(iote_keys_init(&k, secret, 15) == IOTE_ERR_BAD_KEY);
    CHECK(iote_keys_init(&k, secret, 24) == IOTE_ERR_BAD_KEY);
    CHECK(iote_keys_init(&k, NULL, 16) == IOTE_ERR_ARGUMENT);
    /* derived keys of the first group of vectors/envelope_v1.json */
    unhex("2291d8cdc310411e7ec27378a661c935", secret);
    CHECK(iote_keys_init(&k, secret, 16) == IOTE_OK);
    CHECK(k.enc_len == 16 && eq_hex(k.enc, 16, "707528caf983b92a8f9bca5fa6744def"));
#if !defined(IOTE_BE_MIDSTATE)
    CHECK(eq_hex(k.mac, 32, "d23e569809146d50e3e3635a9f221548ed6ef22ffd803ea0a0c5a18b6f19f31a"));
#endif
    iote_keys_wipe(&k); /* frees the backend's per-key contexts before the struct is used again */
    unhex("a911b644be9cb8f8c012402df918260feb34da6dda0b0da317e9d08378805e19", secret);
    CHECK(iote_keys_init(&k, secret, 32) == IOTE_OK);
    CHECK(k.enc_len == 32 && eq_hex(k.enc, 32, "36abe5eda6c49aeec7d599b237bfaf5d787d7bfd71f3686eed3b8a3a2ecb58f2"));
    iote_keys_wipe(&k);
    CHECK(k.enc_len == 0 && k.enc[0] == 0);
}

static void test_base64(void)
{
    uint8_t raw[64];
    char text[96];
    uint8_t back[64];
    size_t n;
    size_t len;
    size_t i;
    for (i = 0; i < sizeof raw; i++) {
        raw[i] = (uint8_t)(i * 37 + 11);
    }
    for (len = 0; len <= 48; len++) {
        uint8_t *out = guarded(iote_b64url_encoded_len(len), 0);
        size_t tl = iote_b64url_encoded_len(len);
        CHECK(iote_b64url_encode(raw, len, (char *)out, tl, &n) == IOTE_OK && n == tl);
        CHECK(guard_ok(out, tl));
        if (len > 0) { /* one byte short: refused, nothing written */
            memset(out, 0x11, tl);
            CHECK(iote_b64url_encode(raw, len, (char *)out, tl - 1, &n) == IOTE_ERR_BUFFER);
            CHECK(out[0] == 0x11 && out[tl - 1] == 0x11);
            CHECK(iote_b64url_encode(raw, len, (char *)out, tl, &n) == IOTE_OK);
        }
        memcpy(text, out, tl);
        CHECK(iote_b64url_decode(text, tl, back, len, &n) == IOTE_OK && n == len && memcmp(back, raw, len) == 0);
        if (len > 0) {
            CHECK(iote_b64url_decode(text, tl, back, len - 1, &n) == IOTE_ERR_BUFFER);
        }
        /* in place, both directions */
        memcpy(text, raw, len);
        CHECK(iote_b64url_encode((const uint8_t *)text, len, text, sizeof text, &n) == IOTE_OK);
        CHECK(n == tl && memcmp(text, out, tl) == 0);
        CHECK(iote_b64url_decode(text, tl, (uint8_t *)text, sizeof text, &n) == IOTE_OK);
        CHECK(n == len && memcmp(text, raw, len) == 0);
        free(out);
    }
    CHECK(iote_b64url_decode("QQ", 2, back, 4, &n) == IOTE_OK && n == 1 && back[0] == 'A');
    CHECK(iote_b64url_decode("QR", 2, back, 4, &n) == IOTE_ERR_MALFORMED); /* non-canonical trailing bits */
    CHECK(iote_b64url_decode("QUI", 3, back, 4, &n) == IOTE_OK && n == 2);
    CHECK(iote_b64url_decode("QUJ", 3, back, 4, &n) == IOTE_ERR_MALFORMED);
    CHECK(iote_b64url_decode("QQ==", 4, back, 4, &n) == IOTE_ERR_MALFORMED);
    CHECK(iote_b64url_decode("a+b/", 4, back, 4, &n) == IOTE_ERR_MALFORMED);
    CHECK(iote_b64url_decode("abcde", 5, back, 8, &n) == IOTE_ERR_MALFORMED);
    CHECK(iote_b64url_decode("ab cd", 5, back, 8, &n) == IOTE_ERR_MALFORMED);
    CHECK(iote_b64url_decode("-_-_", 4, back, 4, &n) == IOTE_OK && n == 3);
}

static void test_pkcs7(void)
{
    uint8_t b[32];
    size_t n = 0;
    int p;
    for (p = 1; p <= 16; p++) {
        memset(b, 0x41, sizeof b);
        memset(b + 32 - p, p, (size_t)p);
        CHECK(iote_pkcs7_unpad(b, 32, &n) == IOTE_OK && n == (size_t)(32 - p));
        if (p > 1) {
            b[32 - p] ^= 1;
            CHECK(iote_pkcs7_unpad(b, 32, &n) == IOTE_ERR_PADDING);
        }
    }
    b[31] = 0;
    CHECK(iote_pkcs7_unpad(b, 32, &n) == IOTE_ERR_PADDING);
    b[31] = 17;
    CHECK(iote_pkcs7_unpad(b, 32, &n) == IOTE_ERR_PADDING);
    CHECK(iote_pkcs7_unpad(b, 15, &n) == IOTE_ERR_PADDING);
    CHECK(iote_pkcs7_unpad(b, 0, &n) == IOTE_ERR_PADDING);
    CHECK(iote_ct_equal((const uint8_t *)"abcd", (const uint8_t *)"abcd", 4) == 1);
    CHECK(iote_ct_equal((const uint8_t *)"abcd", (const uint8_t *)"abce", 4) == 0);
    CHECK(iote_ct_equal((const uint8_t *)"\x80", (const uint8_t *)"\x00", 1) == 0);
}

static iote_keys K;
static const uint8_t IV[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static iote_fields fields(const char *dev, uint8_t dir, uint8_t type, uint32_t seq, uint32_t ts)
{
    iote_fields f;
    f.direction = dir;
    f.type = type;
    f.dev = dev;
    f.dev_len = (uint8_t)strlen(dev);
    f.seq = seq;
    f.ts = ts;
    return f;
}

/* seal into an exactly sized guarded buffer; returns the text (malloc'd, NUL-terminated) */
static char *seal_text(const iote_fields *f, const uint8_t *msg, size_t len, int fmt)
{
    size_t need = iote_sealed_len(f, len, fmt);
    uint8_t *out = guarded(need + 1, 0x77);
    size_t n = 0;
    CHECK(need > 0);
    CHECK(iote_seal(&K, f, IV, msg, len, fmt, (char *)out, need + 1, &n) == IOTE_OK && n == need);
    CHECK(out[need] == '\0' && guard_ok(out, need + 1));
    /* one byte short: refused and the buffer is left alone */
    memset(out, 0x77, need + 1);
    CHECK(iote_seal(&K, f, IV, msg, len, fmt, (char *)out, need, &n) == IOTE_ERR_BUFFER);
    CHECK(out[0] == 0x77 && out[need - 1] == 0x77 && guard_ok(out, need + 1));
    CHECK(iote_seal(&K, f, IV, msg, len, fmt, (char *)out, need + 1, &n) == IOTE_OK);
    return (char *)out;
}

static int open_guarded(const char *text, size_t len, int fmt, uint8_t dir, size_t cap, iote_header *h,
                        uint8_t *plain, size_t *plain_len)
{
    uint8_t *in = guarded(len, 0);
    uint8_t *buf = guarded(cap, 0x99);
    int rc;
    memcpy(in, text, len);
    rc = iote_open(&K, dir, (const char *)in, len, fmt, buf, cap, h, plain_len);
    CHECK(guard_ok(buf, cap));
    CHECK(guard_ok(in, len));
    if (rc == IOTE_OK && plain != NULL) {
        memcpy(plain, buf, *plain_len);
    }
    free(in);
    free(buf);
    return rc;
}

static void test_seal_open(void)
{
    static const char *const devs[] = {"a", "sensor-01", "dev:#!$%&'()*+,-./0123456789;<=>?@[]^_`{|}~ABCDEFGHIJKLMNOPQRSTU"};
    uint8_t msg[100];
    uint8_t plain[100];
    size_t i;
    size_t d;
    int fmt;
    for (i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)rnd();
    }
    for (fmt = 0; fmt < 2; fmt++) {
        for (d = 0; d < 3; d++) {
            size_t len;
            for (len = 0; len <= 40; len += 1 + (len > 17) * 7) {
                iote_fields f = fields(devs[d], IOTE_DOWN, (uint8_t)(len % 3), 4294967295u - len, (uint32_t)len);
                char *text = seal_text(&f, msg, len, fmt);
                size_t tl = strlen(text);
                iote_header h;
                size_t n = 0;
                size_t exact = fmt == IOTE_FMT_COMPACT ? tl * 3 / 4 : (len / 16 + 1) * 16;
                CHECK(open_guarded(text, tl, fmt, IOTE_DOWN, exact, &h, plain, &n) == IOTE_OK);
                CHECK(n == len && memcmp(plain, msg, len) == 0);
                CHECK(h.seq == f.seq && h.ts == f.ts && h.type == f.type && strcmp(h.dev, devs[d]) == 0);
                CHECK(open_guarded(text, tl, IOTE_FMT_AUTO, IOTE_DOWN, exact, &h, plain, &n) == IOTE_OK);
                CHECK(open_guarded(text, tl, fmt, IOTE_DOWN, exact - 1, &h, plain, &n) == IOTE_ERR_BUFFER);
                CHECK(open_guarded(text, tl, fmt, IOTE_UP, exact, &h, plain, &n) == IOTE_ERR_DIRECTION);
                { /* in place: the text is its own buffer */
                    char *copy = (char *)guarded(tl, 0);
                    memcpy(copy, text, tl);
                    CHECK(iote_open(&K, IOTE_DOWN, copy, tl, fmt, (uint8_t *)copy, tl, &h, &n) == IOTE_OK);
                    CHECK(n == len && memcmp(copy, msg, len) == 0 && guard_ok((uint8_t *)copy, tl));
                    free(copy);
                }
                { /* sealing in place: the plaintext already lies at the start of the output buffer */
                    size_t need = iote_sealed_len(&f, len, fmt);
                    char *out = (char *)guarded(need + 1, 0);
                    size_t n2 = 0;
                    memcpy(out, msg, len);
                    CHECK(iote_seal(&K, &f, IV, (const uint8_t *)out, len, fmt, out, need + 1, &n2) == IOTE_OK);
                    CHECK(n2 == tl && strcmp(out, text) == 0 && guard_ok((uint8_t *)out, need + 1));
                    free(out);
                }
                free(text);
            }
        }
    }
    { /* invalid fields are refused before anything is written */
        char out[200];
        size_t n;
        iote_fields f = fields("ok", IOTE_UP, 0, 1, 1);
        const char *bad_devs[] = {"", "with space", "quo\"te", "back\\slash", "tab\there", "\x7f"};
        for (d = 0; d < sizeof bad_devs / sizeof bad_devs[0]; d++) {
            f = fields(bad_devs[d], IOTE_UP, 0, 1, 1);
            memset(out, 0x55, sizeof out);
            CHECK(iote_seal(&K, &f, IV, msg, 3, IOTE_FMT_COMPACT, out, sizeof out, &n) == IOTE_ERR_MALFORMED);
            CHECK((uint8_t)out[0] == 0x55);
        }
        f = fields("ok", 3, 0, 1, 1);
        CHECK(iote_seal(&K, &f, IV, msg, 3, IOTE_FMT_COMPACT, out, sizeof out, &n) == IOTE_ERR_MALFORMED);
        f = fields("ok", IOTE_UP, 3, 1, 1);
        CHECK(iote_seal(&K, &f, IV, msg, 3, IOTE_FMT_COMPACT, out, sizeof out, &n) == IOTE_ERR_MALFORMED);
        f.dev_len = 65;
        CHECK(iote_sealed_len(&f, 3, IOTE_FMT_COMPACT) == 0);
    }
}

/* Every truncation, every byte changed to several values, and random garbage: whatever the result, nothing
 * is written past the stated size (guard bytes) and ASan sees no overrun. */
static void test_malformed(void)
{
    uint8_t msg[40];
    uint8_t plain[2048];
    int fmt;
    memset(msg, 'x', sizeof msg);
    for (fmt = 0; fmt < 2; fmt++) {
        iote_fields f = fields("sensor-01", IOTE_UP, 0, 7, 1763900000u);
        char *text = seal_text(&f, msg, sizeof msg, fmt);
        size_t tl = strlen(text);
        size_t cut;
        size_t pos;
        int opened = 0;
        iote_header h;
        size_t n;
        for (cut = 0; cut < tl; cut++) {
            CHECK(open_guarded(text, cut, fmt, IOTE_UP, cut, &h, plain, &n) != IOTE_OK);
        }
        for (pos = 0; pos < tl; pos++) {
            static const char subst[] = "A_-{}\":, \\0\x80\xff";
            size_t s;
            for (s = 0; s < sizeof subst - 1; s++) {
                char *m = (char *)malloc(tl);
                memcpy(m, text, tl);
                if (m[pos] == subst[s]) {
                    free(m);
                    continue;
                }
                m[pos] = subst[s];
                if (open_guarded(m, tl, fmt, IOTE_UP, tl, &h, plain, &n) == IOTE_OK) {
                    opened++; /* only JSON white space or an equivalent escape may keep it valid */
                }
                free(m);
            }
        }
        CHECK(fmt == IOTE_FMT_JSON || opened == 0);
        free(text);
    }
    {
        int round;
        for (round = 0; round < 3000; round++) {
            size_t len = rnd() % 300;
            char *g = (char *)malloc(len + 1);
            size_t i;
            iote_header h;
            size_t n;
            static const char alphabet[] = "{}[]\":, \\u0123456789abcdefv-_AQEtsdevivcttagseqdirtypeupdown";
            for (i = 0; i < len; i++) {
                g[i] = (rnd() & 3) ? alphabet[rnd() % (sizeof alphabet - 1)] : (char)rnd();
            }
            if (len > 0 && (round & 1)) {
                g[0] = '{';
            }
            CHECK(open_guarded(g, len, (round & 2) ? IOTE_FMT_JSON : IOTE_FMT_COMPACT, IOTE_UP, rnd() % 400, &h,
                               plain, &n) != IOTE_OK);
            free(g);
        }
    }
}

static int open_json_text(const char *text, iote_header *h, uint8_t *plain, size_t *n)
{
    return open_guarded(text, strlen(text), IOTE_FMT_JSON, IOTE_UP, 256, h, plain, n);
}

/* JSON rules shared with Python's json module: escapes, -0, error precedence */
static void test_json_rules(void)
{
    iote_fields f = fields("sensor-01", IOTE_UP, 0, 0, 5);
    char *text = seal_text(&f, (const uint8_t *)"hi", 2, IOTE_FMT_JSON);
    char edited[512];
    iote_header h;
    uint8_t plain[64];
    size_t n;
    char *p;
    /* "seq": 0 -> "seq": -0 is the same integer */
    p = strstr(text, "\"seq\": 0");
    CHECK(p != NULL);
    snprintf(edited, sizeof edited, "%.*s\"seq\": -0%s", (int)(p - text), text, p + 8);
    CHECK(open_json_text(edited, &h, plain, &n) == IOTE_OK && h.seq == 0);
    /* escaped member name and device characters */
    p = strstr(text, "\"dev\": \"sensor-01\"");
    CHECK(p != NULL);
    snprintf(edited, sizeof edited, "%.*s\"d\\u0065v\": \"sensor\\u002d01\"%s", (int)(p - text), text, p + 18);
    CHECK(open_json_text(edited, &h, plain, &n) == IOTE_OK && strcmp(h.dev, "sensor-01") == 0);
    /* v = 2 with other members of the wrong type: the version is reported first (as Python does) */
    CHECK(open_json_text("{\"v\": 2, \"dir\": 1, \"type\": true, \"dev\": null, \"seq\": \"1\", \"ts\": 1.5, "
                         "\"iv\": \"\", \"ct\": \"\", \"tag\": \"\"}",
                         &h, plain, &n) == IOTE_ERR_VERSION);
    CHECK(open_json_text("{\"v\": 1.0, \"dir\": 1, \"type\": true, \"dev\": null, \"seq\": \"1\", \"ts\": 1.5, "
                         "\"iv\": \"\", \"ct\": \"\", \"tag\": \"\"}",
                         &h, plain, &n) == IOTE_ERR_MALFORMED);
    /* ...but not when the member set is wrong or a member is duplicated */
    CHECK(open_json_text("{\"v\": 2}", &h, plain, &n) == IOTE_ERR_MALFORMED);
    CHECK(open_json_text("{\"v\": 2, \"v\": 2, \"dir\": 1, \"type\": true, \"dev\": null, \"seq\": \"1\", "
                         "\"ts\": 1.5, \"iv\": \"\", \"ct\": \"\", \"tag\": \"\"}",
                         &h, plain, &n) == IOTE_ERR_MALFORMED);
    CHECK(open_json_text("{\"v\": 01}", &h, plain, &n) == IOTE_ERR_MALFORMED);
    CHECK(open_json_text("[]", &h, plain, &n) == IOTE_ERR_MALFORMED);
    CHECK(open_json_text("{\"v\": 1} x", &h, plain, &n) == IOTE_ERR_MALFORMED);
    free(text);
}

/* Seals a down message of the given type and plaintext (the first len bytes of payload, zero-extended to 17) and
 * passes it to iote_resync_accept with nonce. Returns its error code after checking that a refusal leaves the
 * counter and time alone and wipes the plaintext from the buffer (which holds the text, opened in place). */
static int resync_refused(uint8_t type, const uint8_t payload[16], size_t len, const uint8_t nonce[8], int format)
{
    uint8_t msg[17] = {0};
    uint32_t counter = 50, when = 7;
    iote_fields f = fields("dev1", IOTE_DOWN, type, 3, 1763900000u);
    iote_resync rs;
    char *text;
    size_t i, tl;
    int rc;
    memcpy(rs.nonce, nonce, 8);
    rs.sent_ms = 1000;
    rs.pending = 1;
    memcpy(msg, payload, len < 16 ? len : 16);
    text = seal_text(&f, msg, len, format);
    tl = strlen(text);
    rc = iote_resync_accept(&K, &rs, text, tl, IOTE_FMT_AUTO, (uint8_t *)text, tl, 1500, &counter, &when);
    CHECK(rc != IOTE_OK && counter == 50 && when == 7);
    CHECK(rs.pending == 1 && memcmp(rs.nonce, nonce, 8) == 0); /* these refusals keep the request pending */
    for (i = 0; i < len; i++) {
        CHECK(text[i] == 0);
    }
    free(text);
    return rc;
}

static void test_resync(void)
{
    const uint8_t nonce[8] = {9, 8, 7, 6, 5, 4, 3, 2};
    uint8_t payload[16];
    char req[256];
    size_t n = 0;
    uint32_t counter = 50;
    uint32_t when = 0;
    iote_header h;
    uint8_t plain[64];
    size_t pl = 0;
    iote_fields f;
    char *resp;
    iote_resync rs;
    memset(&rs, 0, sizeof rs);
    CHECK(iote_resync_request(&K, &rs, "dev1", 4, 0, 0, IV, nonce, 123, IOTE_FMT_COMPACT, req, sizeof req, &n) ==
          IOTE_OK);
    CHECK(rs.pending == 1 && rs.sent_ms == 123 && memcmp(rs.nonce, nonce, 8) == 0);
    CHECK(open_guarded(req, n, IOTE_FMT_COMPACT, IOTE_UP, n, &h, plain, &pl) == IOTE_OK);
    CHECK(h.type == IOTE_TYPE_RESYNC_REQUEST && pl == 8 && memcmp(plain, nonce, 8) == 0);
    /* the backend's answer: nonce || next_seq 1000 || time */
    memcpy(payload, nonce, 8);
    memcpy(payload + 8, "\x00\x00\x03\xe8\x69\x22\xfa\x60", 8);
    f = fields("dev1", IOTE_DOWN, IOTE_TYPE_RESYNC_RESPONSE, 3, 1763900000u);
    resp = seal_text(&f, payload, 16, IOTE_FMT_COMPACT);
    {
        uint8_t buf[256];
        iote_resync saved = rs;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 123 + 60000, &counter,
                                 &when) == IOTE_OK); /* exactly T_wait after the request: still in time */
        CHECK(counter == 1000 && when == 1763900000u);
        CHECK(rs.pending == 0); /* answered: the nonce is used up ... */
        counter = 5000;
        when = 7;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 124, &counter,
                                 &when) == IOTE_ERR_STALE); /* ... so the same response again is refused */
        CHECK(counter == 5000 && when == 7);
        rs = saved;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 124, &counter,
                                 &when) == IOTE_OK);
        CHECK(counter == 5000); /* never lowered */
        /* SPEC.md section 8, T_wait: one millisecond late is stale, and the request is dropped */
        rs = saved;
        counter = 17;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 123 + 60001, &counter,
                                 &when) == IOTE_ERR_STALE);
        CHECK(counter == 17 && rs.pending == 0 && buf[0] == 0 && buf[15] == 0); /* plaintext wiped */
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 124, &counter,
                                 &when) == IOTE_ERR_STALE); /* nothing pending any more, even "in time" */
        /* a response held back for ten days, whatever the wall clock says */
        rs = saved;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf,
                                 123u + 864000000u, &counter, &when) == IOTE_ERR_STALE);
        /* a clock that reads "before the request" (not monotonic) is stale too */
        rs = saved;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 122, &counter,
                                 &when) == IOTE_ERR_STALE);
        /* millis() wraps after 49.7 days: the difference is taken modulo 2^32 */
        rs = saved;
        rs.sent_ms = 0xFFFFF000u;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 0x00002000u, &counter,
                                 &when) == IOTE_OK && counter == 1000);
        /* another nonce first (auth, still pending), then the right response */
        rs = saved;
        rs.nonce[0] ^= 1;
        counter = 17;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 200, &counter,
                                 &when) == IOTE_ERR_AUTH);
        CHECK(rs.pending == 1 && counter == 17);
        rs.nonce[0] ^= 1;
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 200, &counter,
                                 &when) == IOTE_OK && counter == 1000);
        /* a forged or damaged response cannot drop the pending request: the MAC comes first */
        rs = saved;
        {
            char bad[256];
            size_t rl = strlen(resp);
            memcpy(bad, resp, rl);
            bad[rl - 2] = bad[rl - 2] == 'A' ? 'B' : 'A';
            CHECK(iote_resync_accept(&K, &rs, bad, rl, IOTE_FMT_AUTO, buf, sizeof buf, 123u + 70000u, &counter,
                                     &when) == IOTE_ERR_AUTH);
            CHECK(rs.pending == 1);
        }
        /* a wrong type is malformed before the time is looked at (the request stays pending) */
        CHECK(resync_refused(IOTE_TYPE_DATA, payload, 16, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
        /* no state or no counter: argument */
        CHECK(iote_resync_accept(&K, NULL, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 1, &counter, &when) ==
              IOTE_ERR_ARGUMENT);
        CHECK(iote_resync_request(&K, NULL, "dev1", 4, 0, 0, IV, nonce, 1, IOTE_FMT_COMPACT, req, sizeof req, &n) ==
              IOTE_ERR_ARGUMENT);
        /* a new request replaces the pending one: only the newest nonce counts */
        rs = saved;
        CHECK(iote_resync_request(&K, &rs, "dev1", 4, 0, 0, IV, IV, 500, IOTE_FMT_COMPACT, req, sizeof req, &n) ==
              IOTE_OK);
        CHECK(iote_resync_accept(&K, &rs, resp, strlen(resp), IOTE_FMT_AUTO, buf, sizeof buf, 501, &counter,
                                 &when) == IOTE_ERR_AUTH);
        /* the response text may end in one newline */
        rs = saved;
        {
            char nl[256];
            size_t rl = strlen(resp);
            memcpy(nl, resp, rl);
            memcpy(nl + rl, "\r\n", 2);
            CHECK(iote_resync_accept(&K, &rs, nl, rl + 2, IOTE_FMT_AUTO, buf, sizeof buf, 124, &counter, &when) ==
                  IOTE_OK);
        }
    }
    free(resp);
    /* SPEC.md section 8: another nonce is auth (even one differing only in its last byte) ... */
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 16, IV, IOTE_FMT_COMPACT) == IOTE_ERR_AUTH);
    {
        uint8_t near[8];
        memcpy(near, nonce, 8);
        near[7] ^= 1;
        CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 16, near, IOTE_FMT_COMPACT) == IOTE_ERR_AUTH);
    }
    /* ... a type other than resync-response or a plaintext other than 16 bytes is malformed, nonce or not */
    CHECK(resync_refused(IOTE_TYPE_DATA, payload, 16, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_REQUEST, payload, 16, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_DATA, payload, 16, IV, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 15, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 8, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 0, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 17, nonce, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 15, IV, IOTE_FMT_COMPACT) == IOTE_ERR_MALFORMED);
#if IOTE_WITH_JSON
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 16, IV, IOTE_FMT_JSON) == IOTE_ERR_AUTH);
    CHECK(resync_refused(IOTE_TYPE_DATA, payload, 16, nonce, IOTE_FMT_JSON) == IOTE_ERR_MALFORMED);
    CHECK(resync_refused(IOTE_TYPE_RESYNC_RESPONSE, payload, 17, nonce, IOTE_FMT_JSON) == IOTE_ERR_MALFORMED);
#endif
}

static void test_window(void)
{
    iote_window w;
    iote_window_init(&w);
    CHECK(iote_window_accept(&w, 5) == IOTE_REPLAY_OK);
    CHECK(iote_window_accept(&w, 5) == IOTE_REPLAY_DUPLICATE);
    CHECK(iote_window_accept(&w, 4) == IOTE_REPLAY_OK);
    CHECK(iote_window_accept(&w, 70) == IOTE_REPLAY_OK);
    CHECK(iote_window_check(&w, 6) == IOTE_REPLAY_TOO_OLD);  /* 70 - 6 = 64: outside a window of 64 */
    CHECK(iote_window_check(&w, 5) == IOTE_REPLAY_TOO_OLD);
    CHECK(iote_window_accept(&w, 7) == IOTE_REPLAY_OK);      /* 70 - 7 = 63: inside */
    CHECK(iote_window_accept(&w, 7) == IOTE_REPLAY_DUPLICATE);
    CHECK(iote_window_accept(&w, 70) == IOTE_REPLAY_DUPLICATE);
    CHECK(iote_window_accept(&w, 103) == IOTE_REPLAY_OK);    /* shift by 33 keeps 70 */
    CHECK(iote_window_check(&w, 70) == IOTE_REPLAY_DUPLICATE);
    CHECK(iote_window_check(&w, 71) == IOTE_REPLAY_OK);
    CHECK(iote_window_accept(&w, 4294967295u) == IOTE_REPLAY_OK);
    CHECK(iote_window_check(&w, 103) == IOTE_REPLAY_TOO_OLD);
    iote_window_init(&w);
    CHECK(iote_window_accept(&w, 0) == IOTE_REPLAY_OK);
    CHECK(iote_window_accept(&w, 0) == IOTE_REPLAY_DUPLICATE);
}

/* iote_cbc_pkcs7_*: exact sizes, round trips, key lengths, padding failures that wipe the buffer */
static void test_cbc_pkcs7(void)
{
    static const uint8_t key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4,
                                    3, 2, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8};
    uint8_t iv[16];
    uint8_t small[48];
    size_t m, k, n = 0, got = 0;
    for (k = 16; k <= 32; k += 16) {
        for (m = 0; m <= 33; m++) {
            size_t want = (m / 16 + 1) * 16;
            uint8_t *b = guarded(want, 0x5A);
            size_t i;
            CHECK(iote_cbc_pkcs7_encrypt(key, k, IV, b, m, want, &n) == IOTE_OK && n == want && guard_ok(b, want));
            CHECK(iote_cbc_pkcs7_decrypt(key, k, IV, b, n, &got) == IOTE_OK && got == m && guard_ok(b, want));
            for (i = 0; i < m; i++) {
                CHECK(b[i] == 0x5A);
            }
            if (m < 16) { /* a flipped last IV byte flips the padding byte of a one-block message */
                CHECK(iote_cbc_pkcs7_encrypt(key, k, IV, b, m, want, &n) == IOTE_OK);
                memcpy(iv, IV, sizeof iv);
                iv[15] ^= 1;
                CHECK(iote_cbc_pkcs7_decrypt(key, k, iv, b, n, &got) == IOTE_ERR_PADDING);
                for (i = 0; i < want; i++) {
                    CHECK(b[i] == 0); /* wiped */
                }
            }
            free(b);
        }
    }
    memset(small, 0x33, sizeof small);
    CHECK(iote_cbc_pkcs7_encrypt(key, 16, IV, small, 16, 31, &n) == IOTE_ERR_BUFFER && small[16] == 0x33);
    CHECK(iote_cbc_pkcs7_encrypt(key, 24, IV, small, 5, sizeof small, &n) == IOTE_ERR_BAD_KEY); /* no AES-192 */
    CHECK(iote_cbc_pkcs7_decrypt(key, 24, IV, small, 16, &n) == IOTE_ERR_BAD_KEY);
    CHECK(iote_cbc_pkcs7_decrypt(key, 0, IV, small, 16, &n) == IOTE_ERR_BAD_KEY);
    CHECK(iote_cbc_pkcs7_decrypt(key, 16, IV, small, 0, &n) == IOTE_ERR_PADDING);  /* empty: no padding */
    CHECK(iote_cbc_pkcs7_decrypt(key, 16, IV, small, 15, &n) == IOTE_ERR_PADDING); /* no whole block */
    CHECK(iote_cbc_pkcs7_decrypt(NULL, 16, IV, small, 16, &n) == IOTE_ERR_ARGUMENT);
    CHECK(iote_cbc_pkcs7_encrypt(key, 16, NULL, small, 1, sizeof small, &n) == IOTE_ERR_ARGUMENT);
}

/* SPEC.md section 5: exactly one trailing LF or CR LF is removed from envelope text before decoding, nothing
 * else. Applies to iote_open (every format), iote_lean_open (text) and iote_resync_accept (test_resync). */
static void test_newline(void)
{
    static const char *const ok_tails[] = {"\n", "\r\n"};
    static const char *const bad_tails[] = {"\n\n", "\r\n\n", "\n\r\n", "\r", "\n\r", " ", " \n", "\t\n", "\r\r\n"};
    uint8_t plain[64];
    iote_header h;
    size_t n, i;
    int fmt;
    for (fmt = 0; fmt < 2; fmt++) {
        iote_fields f = fields("nl-1", IOTE_UP, 0, 9, 0);
        char *text = seal_text(&f, (const uint8_t *)"reading", 7, fmt);
        size_t tl = strlen(text);
        char buf[512];
        CHECK(strchr(text, '\n') == NULL); /* seal never adds one */
        for (i = 0; i < 2; i++) {
            size_t k = strlen(ok_tails[i]);
            memcpy(buf, text, tl);
            memcpy(buf + tl, ok_tails[i], k);
            CHECK(open_guarded(buf, tl + k, fmt, IOTE_UP, tl + k, &h, plain, &n) == IOTE_OK && n == 7 &&
                  memcmp(plain, "reading", 7) == 0);
            CHECK(open_guarded(buf, tl + k, IOTE_FMT_AUTO, IOTE_UP, tl + k, &h, plain, &n) == IOTE_OK);
        }
        for (i = 0; i < sizeof bad_tails / sizeof bad_tails[0]; i++) {
            size_t k = strlen(bad_tails[i]);
            int rc;
            memcpy(buf, text, tl);
            memcpy(buf + tl, bad_tails[i], k);
            rc = open_guarded(buf, tl + k, fmt, IOTE_UP, tl + k, &h, plain, &n);
            /* compact: malformed; JSON keeps JSON's own white-space rules for what is left */
            CHECK(fmt == IOTE_FMT_COMPACT ? rc == IOTE_ERR_MALFORMED : rc == IOTE_OK);
        }
        /* leading line breaks are never removed */
        buf[0] = '\n';
        memcpy(buf + 1, text, tl);
        CHECK(open_guarded(buf, tl + 1, fmt, IOTE_UP, tl + 1, &h, plain, &n) ==
              (fmt == IOTE_FMT_COMPACT ? IOTE_ERR_MALFORMED : IOTE_OK));
        /* the newline alone is an empty text */
        CHECK(open_guarded("\n", 1, fmt, IOTE_UP, 1, &h, plain, &n) == IOTE_ERR_MALFORMED);
        CHECK(open_guarded("\r\n", 2, fmt, IOTE_UP, 2, &h, plain, &n) == IOTE_ERR_MALFORMED);
        /* in place with the newline */
        memcpy(buf, text, tl);
        buf[tl] = '\n';
        CHECK(iote_open(&K, IOTE_UP, buf, tl + 1, fmt, (uint8_t *)buf, tl + 1, &h, &n) == IOTE_OK && n == 7);
        free(text);
    }
    { /* JSON text whose last white space is the newline: {...}\n\n keeps one \n, which JSON allows */
        iote_fields f = fields("nl-1", IOTE_UP, 0, 9, 0);
        char *text = seal_text(&f, (const uint8_t *)"r", 1, IOTE_FMT_JSON);
        char buf[512];
        size_t tl = strlen(text);
        memcpy(buf, text, tl);
        memcpy(buf + tl, "\n\n", 2);
        CHECK(open_guarded(buf, tl + 2, IOTE_FMT_JSON, IOTE_UP, tl + 2, &h, plain, &n) == IOTE_OK);
        free(text);
    }
}

/* SPEC.md section 5: text longer than IOTE_MAX_TEXT (65536) is malformed before it is parsed; seal refuses a
 * plaintext whose envelope would be longer. */
static void test_text_cap(void)
{
    static uint8_t big[70000];
    iote_header h;
    size_t n, need, i, tl;
    char *out;
    iote_fields f = fields("c", IOTE_UP, 0, 1, 0);
    /* dev_len 1: raw = 45 + ct; 49103 bytes -> ct 49104 -> raw 49149 -> 65532 characters: the largest */
    need = iote_sealed_len(&f, 49103, IOTE_FMT_COMPACT);
    CHECK(need == 65532);
    out = (char *)guarded(need + 1, 0);
    CHECK(iote_seal(&K, &f, IV, big, 49103, IOTE_FMT_COMPACT, out, need + 1, &n) == IOTE_OK && n == need);
    CHECK(open_guarded(out, n, IOTE_FMT_COMPACT, IOTE_UP, n, &h, NULL, &n) == IOTE_OK && n == 49103);
    free(out);
    need = iote_sealed_len(&f, 49104, IOTE_FMT_COMPACT); /* one byte more: a 16-byte block more */
    CHECK(need == 65554);
    out = (char *)guarded(need + 1, 0x66);
    CHECK(iote_seal(&K, &f, IV, big, 49104, IOTE_FMT_COMPACT, out, need + 1, &n) == IOTE_ERR_MALFORMED);
    CHECK((uint8_t)out[0] == 0x66 && guard_ok((uint8_t *)out, need + 1)); /* refused before writing */
    free(out);
    /* JSON: the largest plaintext that fits (its text at most 65536), and 16 more bytes */
    {
        size_t m = 0;
        while (iote_sealed_len(&f, m + 16, IOTE_FMT_JSON) <= IOTE_MAX_TEXT) {
            m += 16;
        }
        while (iote_sealed_len(&f, m + 1, IOTE_FMT_JSON) <= IOTE_MAX_TEXT) {
            m++;
        }
        need = iote_sealed_len(&f, m, IOTE_FMT_JSON);
        out = (char *)guarded(need + 2 + 16, 0);
        CHECK(iote_seal(&K, &f, IV, big, m, IOTE_FMT_JSON, out, need + 1, &n) == IOTE_OK && n <= IOTE_MAX_TEXT);
        /* pad the JSON text with spaces to exactly IOTE_MAX_TEXT: still opens; one more byte: malformed,
         * although it is the same valid envelope */
        tl = n;
        memmove(out + 1 + (IOTE_MAX_TEXT - tl), out + 1, tl - 1); /* spaces after the '{' */
        memset(out + 1, ' ', IOTE_MAX_TEXT - tl);
        CHECK(open_guarded(out, IOTE_MAX_TEXT, IOTE_FMT_JSON, IOTE_UP, IOTE_MAX_TEXT, &h, NULL, &n) == IOTE_OK &&
              n == m);
        out[IOTE_MAX_TEXT] = '\n'; /* the newline does not count */
        CHECK(open_guarded(out, IOTE_MAX_TEXT + 1, IOTE_FMT_JSON, IOTE_UP, IOTE_MAX_TEXT + 1, &h, NULL, &n) ==
              IOTE_OK);
        out[IOTE_MAX_TEXT] = ' ';
        CHECK(open_guarded(out, IOTE_MAX_TEXT + 1, IOTE_FMT_JSON, IOTE_UP, IOTE_MAX_TEXT + 1, &h, NULL, &n) ==
              IOTE_ERR_MALFORMED);
        CHECK(open_guarded(out, IOTE_MAX_TEXT + 1, IOTE_FMT_AUTO, IOTE_UP, IOTE_MAX_TEXT + 1, &h, NULL, &n) ==
              IOTE_ERR_MALFORMED);
        CHECK(iote_sealed_len(&f, m + 1, IOTE_FMT_JSON) > IOTE_MAX_TEXT);
        CHECK(iote_seal(&K, &f, IV, big, m + 1, IOTE_FMT_JSON, out, need + 18, &n) == IOTE_ERR_MALFORMED);
        free(out);
    }
    /* issue 10's hostile inputs: a 1.1 MB JSON object of 100,000 members and a 1 MB compact string */
    {
        size_t cap = 1200000, pos = 1;
        char *j = (char *)malloc(cap);
        j[0] = '{';
        for (i = 0; i < 100000; i++) {
            pos += (size_t)snprintf(j + pos, cap - pos, "%s\"m%05u\":1", i ? "," : "", (unsigned)i);
        }
        j[pos++] = '}';
        CHECK(pos == 1100001); /* 11 bytes a member ("m01234":1,) and the braces */
        CHECK(open_guarded(j, pos, IOTE_FMT_JSON, IOTE_UP, pos, &h, NULL, &n) == IOTE_ERR_MALFORMED);
        CHECK(open_guarded(j, pos, IOTE_FMT_AUTO, IOTE_UP, pos, &h, NULL, &n) == IOTE_ERR_MALFORMED);
        /* the same object cut to the cap is still refused at its first member */
        CHECK(open_guarded(j, IOTE_MAX_TEXT, IOTE_FMT_JSON, IOTE_UP, IOTE_MAX_TEXT, &h, NULL, &n) ==
              IOTE_ERR_MALFORMED);
        memset(j, 'A', 1000000);
        CHECK(open_guarded(j, 1000000, IOTE_FMT_COMPACT, IOTE_UP, 1000000, &h, NULL, &n) == IOTE_ERR_MALFORMED);
        CHECK(open_guarded(j, 1000000, IOTE_FMT_AUTO, IOTE_UP, 1000000, &h, NULL, &n) == IOTE_ERR_MALFORMED);
#if IOTE_WITH_LEAN
        {
            iote_lean_keys lk;
            uint8_t *b = (uint8_t *)malloc(1000000);
            uint8_t secret[16] = {0};
            CHECK(iote_lean_keys_init(&lk, secret, 16) == IOTE_OK);
            CHECK(iote_lean_open(&lk, IOTE_UP, "c", 1, j, 1000000, IOTE_FMT_LEAN, b, 1000000, &h, &n) ==
                  IOTE_ERR_MALFORMED);
            CHECK(iote_lean_open(&lk, IOTE_UP, "c", 1, j, IOTE_MAX_RAW + 1, IOTE_FMT_LEAN_RAW, b, 1000000, &h, &n) ==
                  IOTE_ERR_MALFORMED);
            iote_lean_keys_wipe(&lk);
            free(b);
        }
#endif
        /* deep nesting below the cap: refused at the first '[' */
        memcpy(j, "{\"v\": ", 6);
        memset(j + 6, '[', 60000);
        CHECK(open_guarded(j, 60006, IOTE_FMT_JSON, IOTE_UP, 60006, &h, NULL, &n) == IOTE_ERR_MALFORMED);
        free(j);
    }
}

/* Linear cost, pinned by memory protection: the text continues into a page that may not be read (and ends in
 * a readable page, where the newline rule looks). A decoder that refuses at the first unknown or repeated
 * member, at a tenth member, at a nested value, or at the first bad base64 character never touches the
 * protected page; one that read on (to count members, to match brackets) would crash here. */
static int open_before_guard(const char *prefix, const char *tail, int fmt, int lean)
{
    static uint8_t *pages;
    static size_t ps;
    static uint8_t out[16384];
    size_t pl = strlen(prefix), tl = strlen(tail);
    char *text;
    iote_header h;
    size_t n = 0;
    int rc;
    if (pages == NULL) {
        ps = (size_t)sysconf(_SC_PAGESIZE);
        pages = (uint8_t *)mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(pages != MAP_FAILED && mprotect(pages + ps, ps, PROT_NONE) == 0);
    }
    text = (char *)pages + ps - pl;
    memcpy(text, prefix, pl);
    memcpy(pages + 2 * ps, tail, tl);
#if IOTE_WITH_LEAN
    if (lean) {
        iote_lean_keys lk;
        uint8_t secret[16] = {0};
        CHECK(iote_lean_keys_init(&lk, secret, 16) == IOTE_OK);
        rc = iote_lean_open(&lk, IOTE_UP, "g", 1, text, pl + ps + tl, IOTE_FMT_LEAN, out, sizeof out, &h, &n);
        iote_lean_keys_wipe(&lk);
        return rc;
    }
#else
    (void)lean;
#endif
    return iote_open(&K, IOTE_UP, text, pl + ps + tl, fmt, out, sizeof out, &h, &n);
}

static void test_stops_early(void)
{
    static const char nine[] = "{\"v\": 1, \"dir\": \"up\", \"type\": \"data\", \"dev\": \"g\", \"seq\": 1, \"ts\": 0, "
                               "\"iv\": \"AAAAAAAAAAAAAAAAAAAAAA\", \"ct\": \"AAAAAAAAAAAAAAAAAAAAAA\", "
                               "\"tag\": \"AAAAAAAAAAAAAAAAAAAAAA\"";
    char ten[sizeof nine + 16];
    int fmt;
    CHECK(open_before_guard("{\"v\": 1, \"unknown\"", "}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("{\"x\"", "}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("{\"v\": 1, \"dir\": \"up\", \"v\"", "}\n", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("{\"seq\": 1, \"s\\u0065q\"", "}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    snprintf(ten, sizeof ten, "%s, \"ts\"", nine); /* a tenth member is always a repeated or unknown one */
    CHECK(open_before_guard(ten, "}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("{\"v\": 1, \"dev\": [", "]}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("{\"v\": {", "}}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("  \n{\"v\": [[[[", "]]]]}", IOTE_FMT_AUTO, 0) == IOTE_ERR_MALFORMED);
    CHECK(open_before_guard("{\"v\": 1 x", "}", IOTE_FMT_JSON, 0) == IOTE_ERR_MALFORMED);
    for (fmt = 0; fmt < 3; fmt += 2) { /* compact and auto: the first character outside base64url */
        CHECK(open_before_guard("AQEAAAAAAAAA*", "AAA", fmt, 0) == IOTE_ERR_MALFORMED);
        CHECK(open_before_guard("AQEAAAAA=", "AAAAAAA", fmt, 0) == IOTE_ERR_MALFORMED);
    }
    CHECK(open_before_guard("QAAAAAAA.", "AAAAAAA", 0, 1) == IOTE_ERR_MALFORMED);
}

#if IOTE_WITH_LEAN
static iote_lean_keys LK;

static char *lean_seal_guarded(const iote_fields *f, const uint8_t *msg, size_t len, int fmt, size_t *out_len)
{
    size_t need = iote_lean_sealed_len(f, len, fmt);
    size_t cap = need + (fmt == IOTE_FMT_LEAN);
    uint8_t *out = guarded(cap, 0x77);
    size_t n = 0;
    CHECK(need > 0);
    CHECK(iote_lean_seal(&LK, f, msg, len, fmt, out, cap, &n) == IOTE_OK && n == need && guard_ok(out, cap));
    CHECK(fmt != IOTE_FMT_LEAN || out[need] == '\0');
    memset(out, 0x77, cap); /* one byte short: refused, nothing written */
    CHECK(iote_lean_seal(&LK, f, msg, len, fmt, out, cap - 1, &n) == IOTE_ERR_BUFFER);
    CHECK(out[0] == 0x77 && out[cap - 1] == 0x77 && guard_ok(out, cap));
    CHECK(iote_lean_seal(&LK, f, msg, len, fmt, out, cap, &n) == IOTE_OK);
    *out_len = n;
    return (char *)out;
}

static int lean_open_guarded(const void *in, size_t len, int fmt, uint8_t dir, const char *dev, size_t cap,
                             iote_header *h, uint8_t *plain, size_t *plain_len)
{
    uint8_t *copy = guarded(len, 0);
    uint8_t *buf = guarded(cap, 0x99);
    int rc;
    memcpy(copy, in, len);
    rc = iote_lean_open(&LK, dir, dev, (uint8_t)strlen(dev), copy, len, fmt, buf, cap, h, plain_len);
    CHECK(guard_ok(buf, cap) && guard_ok(copy, len));
    if (rc == IOTE_OK && plain != NULL) {
        memcpy(plain, buf, *plain_len);
    }
    free(copy);
    free(buf);
    return rc;
}

/* The lean form (SPEC.md section 5.3). Byte-exact agreement with the Python reference is checked by
 * tests/test_c.py (an independent computation with pycryptodome, and the vector file); here: keys, layout,
 * sizes, every refusal class and exact buffers. */
static void test_lean(void)
{
    uint8_t secret[32];
    uint8_t msg[64], plain[128], raw[256];
    iote_header h;
    size_t n = 0, len, i;
    int fmt;
    unhex("000102030405060708090a0b0c0d0e0f", secret);
    CHECK(iote_lean_keys_init(&LK, secret, 16) == IOTE_OK);
    /* HKDF-Expand with the lean info strings (computed with Python's hmac module) */
    CHECK(LK.k.enc_len == 16 && eq_hex(LK.k.enc, 16, "07d851c73d8edeab3cb254fe31eb57f1"));
#if !defined(IOTE_BE_MIDSTATE)
    CHECK(eq_hex(LK.k.mac, 32, "318d211ef9f16c5b604b437f39cdb5765f32781da601f69fea60ea2766eaff46"));
#endif
    CHECK(memcmp(LK.k.enc, K.enc, 16) != 0);
    iote_lean_keys_wipe(&LK); /* before the struct is initialised again (OpenSSL: frees its contexts) */
    CHECK(iote_lean_keys_init(&LK, secret, 24) == IOTE_ERR_BAD_KEY);
    CHECK(iote_lean_keys_init(NULL, secret, 16) == IOTE_ERR_ARGUMENT);
    CHECK(iote_lean_keys_init(&LK, secret, 16) == IOTE_OK);
    for (i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)(i * 7 + 1);
    }
    { /* sizes of SPEC.md section 5.3: 13 + 16 * ceil((p + 1) / 16), 4 more with ts */
        iote_fields f = fields("lora-1", IOTE_UP, 0, 5, 0);
        CHECK(iote_lean_sealed_len(&f, 20, IOTE_FMT_LEAN_RAW) == 45);
        CHECK(iote_lean_sealed_len(&f, 15, IOTE_FMT_LEAN_RAW) == 29);
        CHECK(iote_lean_sealed_len(&f, 16, IOTE_FMT_LEAN_RAW) == 45);
        CHECK(iote_lean_sealed_len(&f, 20, IOTE_FMT_LEAN) == 60);
        f.ts = 1763900000u;
        CHECK(iote_lean_sealed_len(&f, 31, IOTE_FMT_LEAN_RAW) == 49); /* fits LoRaWAN DR0-DR2 (51) */
        CHECK(iote_lean_sealed_len(&f, 31, IOTE_FMT_COMPACT) == 0);
    }
    for (fmt = IOTE_FMT_LEAN; fmt <= IOTE_FMT_LEAN_RAW; fmt++) {
        int dir, type, withts;
        for (dir = 1; dir <= 2; dir++) { /* IOTE_UP, IOTE_DOWN */
            for (type = 0; type < 3; type++) {
                for (withts = 0; withts < 2; withts++) {
                    for (len = 0; len <= 40; len += 1 + (len > 17) * 7) {
                        iote_fields f = fields("lora-1", (uint8_t)dir, (uint8_t)type, 4294967295u - len,
                                               withts ? 1763900000u + (uint32_t)len : 0u);
                        size_t tl;
                        char *text = lean_seal_guarded(&f, msg, len, fmt, &tl);
                        size_t rawcap = fmt == IOTE_FMT_LEAN ? tl * 3 / 4 : tl;
                        const uint8_t *r = (const uint8_t *)text;
                        uint8_t hdr = (uint8_t)(0x40 | (withts << 4) | (dir << 2) | type);
                        if (fmt == IOTE_FMT_LEAN) {
                            CHECK(iote_b64url_decode(text, tl, raw, sizeof raw, &rawcap) == IOTE_OK);
                            r = raw;
                        }
                        /* layout: hdr || seq || [ts] || ct || tag8 */
                        CHECK(r[0] == hdr && r[1] == 0xFF && r[2] == 0xFF && r[3] == 0xFF &&
                              r[4] == (uint8_t)(0xFF - len));
                        CHECK(rawcap == 5u + 4u * (unsigned)withts + (len / 16 + 1) * 16 + 8);
                        CHECK(lean_open_guarded(text, tl, fmt, (uint8_t)dir, "lora-1", rawcap, &h, plain, &n) ==
                              IOTE_OK);
                        CHECK(n == len && memcmp(plain, msg, len) == 0);
                        CHECK(h.direction == dir && h.type == type && h.seq == f.seq && h.ts == f.ts &&
                              strcmp(h.dev, "lora-1") == 0 && h.dev_len == 6);
                        CHECK(lean_open_guarded(text, tl, fmt, (uint8_t)dir, "lora-1", rawcap - 1, &h, plain, &n) ==
                              IOTE_ERR_BUFFER);
                        CHECK(lean_open_guarded(text, tl, fmt, (uint8_t)(3 - dir), "lora-1", rawcap, &h, plain,
                                                &n) == IOTE_ERR_DIRECTION);
                        /* the device id is under the tag: another id fails the MAC */
                        CHECK(lean_open_guarded(text, tl, fmt, (uint8_t)dir, "lora-2", rawcap, &h, plain, &n) ==
                              IOTE_ERR_AUTH);
                        CHECK(lean_open_guarded(text, tl, fmt, (uint8_t)dir, "lora-", rawcap, &h, plain, &n) ==
                              IOTE_ERR_AUTH);
                        { /* in place, both ways */
                            char *copy = (char *)guarded(tl, 0);
                            size_t need = iote_lean_sealed_len(&f, len, fmt) + (fmt == IOTE_FMT_LEAN);
                            char *out = (char *)guarded(need, 0);
                            size_t n2 = 0;
                            memcpy(copy, text, tl);
                            CHECK(iote_lean_open(&LK, (uint8_t)dir, "lora-1", 6, copy, tl, fmt, (uint8_t *)copy, tl,
                                                 &h, &n) == IOTE_OK);
                            CHECK(n == len && memcmp(copy, msg, len) == 0 && guard_ok((uint8_t *)copy, tl));
                            memcpy(out + need - len - (fmt == IOTE_FMT_LEAN), msg, len); /* plaintext at the end */
                            CHECK(iote_lean_seal(&LK, &f, (const uint8_t *)out + need - len - (fmt == IOTE_FMT_LEAN),
                                                 len, fmt, out, need, &n2) == IOTE_OK);
                            CHECK(n2 == tl && memcmp(out, text, tl) == 0 && guard_ok((uint8_t *)out, need));
                            free(copy);
                            free(out);
                        }
                        /* text: one trailing newline is fine; raw bytes are never stripped */
                        {
                            char *nl = (char *)malloc(tl + 2);
                            memcpy(nl, text, tl);
                            memcpy(nl + tl, "\r\n", 2);
                            CHECK(lean_open_guarded(nl, tl + 2, fmt, (uint8_t)dir, "lora-1", tl + 2, &h, plain, &n) ==
                                  (fmt == IOTE_FMT_LEAN ? IOTE_OK : IOTE_ERR_MALFORMED));
                            CHECK(lean_open_guarded(nl, tl + 1, fmt, (uint8_t)dir, "lora-1", tl + 2, &h, plain, &n) ==
                                  IOTE_ERR_MALFORMED); /* a lone CR */
                            free(nl);
                        }
                        free(text);
                    }
                }
            }
        }
    }
    { /* every raw byte flipped, every truncation, every extension: refused, never opened */
        iote_fields f = fields("lora-1", IOTE_UP, 0, 77, 1763900000u);
        size_t rl, pos, bit;
        char *r = lean_seal_guarded(&f, msg, 20, IOTE_FMT_LEAN_RAW, &rl);
        CHECK(rl == 49);
        memcpy(raw, r, rl);
        for (pos = 0; pos < rl; pos++) {
            for (bit = 0; bit < 8; bit++) {
                int rc;
                raw[pos] ^= (uint8_t)(1u << bit);
                rc = lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n);
                if (pos == 0 && bit >= 5) {
                    CHECK(rc == IOTE_ERR_VERSION);
                } else if (pos == 0 && bit == 4) {
                    CHECK(rc == IOTE_ERR_AUTH || rc == IOTE_ERR_MALFORMED); /* T off: ct 4 bytes longer */
                } else if (pos == 0 && bit >= 2) {
                    CHECK(rc == IOTE_ERR_MALFORMED || rc == IOTE_ERR_DIRECTION); /* D = 00, 11 or down */
                } else if (pos == 0) {
                    CHECK(rc == IOTE_ERR_MALFORMED || rc == IOTE_ERR_AUTH); /* Y = 11, or another type */
                } else {
                    CHECK(rc == IOTE_ERR_AUTH);
                }
                raw[pos] ^= (uint8_t)(1u << bit);
            }
        }
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_OK);
        for (pos = 0; pos < rl; pos++) {
            CHECK(lean_open_guarded(raw, pos, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) != IOTE_OK);
        }
        raw[rl] = 0;
        CHECK(lean_open_guarded(raw, rl + 1, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl + 1, &h, plain, &n) ==
              IOTE_ERR_MALFORMED);
        memset(raw + rl, 0, 16);
        CHECK(lean_open_guarded(raw, rl + 16, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl + 16, &h, plain, &n) ==
              IOTE_ERR_AUTH);
        /* decoding refusals of SPEC.md section 5.3 */
        raw[0] = 0x54 | 0x03; /* Y = 11 */
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_MALFORMED);
        raw[0] = 0x50; /* D = 00 */
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_MALFORMED);
        raw[0] = 0x5C; /* D = 11 */
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_MALFORMED);
        raw[0] = 0x14; /* version bits 000 */
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_VERSION);
        raw[0] = 0x01; /* a compact envelope's first byte */
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_VERSION);
        raw[0] = 0x54;
        memset(raw + 5, 0, 4); /* T = 1 with ts = 0: malformed before the MAC */
        CHECK(lean_open_guarded(raw, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_MALFORMED);
        CHECK(lean_open_guarded(raw, 0, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_MALFORMED);
        CHECK(lean_open_guarded(raw, 28, IOTE_FMT_LEAN_RAW, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_MALFORMED);
        /* caller errors: a device id that is not one, a compact format */
        CHECK(lean_open_guarded(r, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "", rl, &h, plain, &n) == IOTE_ERR_ARGUMENT);
        CHECK(lean_open_guarded(r, rl, IOTE_FMT_LEAN_RAW, IOTE_UP, "a b", rl, &h, plain, &n) == IOTE_ERR_ARGUMENT);
        CHECK(lean_open_guarded(r, rl, IOTE_FMT_COMPACT, IOTE_UP, "lora-1", rl, &h, plain, &n) == IOTE_ERR_ARGUMENT);
        CHECK(iote_lean_seal(&LK, &f, msg, 3, IOTE_FMT_JSON, raw, sizeof raw, &n) == IOTE_ERR_ARGUMENT);
        free(r);
    }
    { /* the IV is AES-ECB(K_enc_lean, 0x4C || hdr & 0x0F || seq || 0^10): check the first ct block with the
       * building blocks, and that it differs per direction/type/seq */
        iote_fields f = fields("d", IOTE_UP, 0, 0x01020304u, 0);
        size_t rl;
        char *r = lean_seal_guarded(&f, msg, 5, IOTE_FMT_LEAN_RAW, &rl);
        uint8_t nonce[16] = {0x4C, 0x04, 1, 2, 3, 4};
        uint8_t zero[16] = {0};
        uint8_t block[16];
        size_t got = 0;
        memcpy(block, nonce, 16);
        /* E(nonce): CBC of one block under a zero IV, then the message block under that IV */
        CHECK(iote_cbc_pkcs7_encrypt(LK.k.enc, 16, zero, block, 16, 16, &got) == IOTE_ERR_BUFFER);
        {
            uint8_t two[32];
            memcpy(two, nonce, 16);
            CHECK(iote_cbc_pkcs7_encrypt(LK.k.enc, 16, zero, two, 16, 32, &got) == IOTE_OK && got == 32);
            memcpy(block, two, 16); /* = AES(K, nonce) */
            memcpy(two, msg, 5);
            CHECK(iote_cbc_pkcs7_encrypt(LK.k.enc, 16, block, two, 5, 16, &got) == IOTE_OK && got == 16);
            CHECK(memcmp(two, r + 5, 16) == 0);
        }
        free(r);
    }
    iote_lean_keys_wipe(&LK);
    CHECK(LK.k.enc_len == 0);
}
#endif

/* One iote_keys shared by several threads (docs/c.md): with OpenSSL they contend for the per-key contexts and
 * fall back to one-shot ones; every seal must still give the single-threaded bytes and every open the message. */
#define THREADS 4
#define THREAD_ROUNDS 3000
static char thread_want[256];
static size_t thread_want_len;
static int thread_bad[THREADS];

static void *thread_body(void *arg)
{
    int id = (int)(size_t)arg;
    iote_fields f = fields("shared", IOTE_UP, 0, 7, 1763900000u);
    int r;
    for (r = 0; r < THREAD_ROUNDS; r++) {
        char out[256];
        uint8_t buf[256];
        iote_header h;
        size_t n = 0, m = 0;
        if (iote_seal(&K, &f, IV, (const uint8_t *)"concurrent reading", 18, IOTE_FMT_COMPACT, out, sizeof out, &n) !=
                IOTE_OK ||
            n != thread_want_len || memcmp(out, thread_want, n) != 0) {
            thread_bad[id]++;
        }
        if (iote_open(&K, IOTE_UP, thread_want, thread_want_len, IOTE_FMT_COMPACT, buf, sizeof buf, &h, &m) !=
                IOTE_OK ||
            m != 18 || memcmp(buf, "concurrent reading", 18) != 0) {
            thread_bad[id]++;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[THREADS];
    iote_fields f = fields("shared", IOTE_UP, 0, 7, 1763900000u);
    size_t i;
    CHECK(iote_seal(&K, &f, IV, (const uint8_t *)"concurrent reading", 18, IOTE_FMT_COMPACT, thread_want,
                    sizeof thread_want, &thread_want_len) == IOTE_OK);
    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&t[i], NULL, thread_body, (void *)i) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_join(t[i], NULL) == 0);
        CHECK(thread_bad[i] == 0);
    }
}

int main(void)
{
    uint8_t secret[16];
    unhex("000102030405060708090a0b0c0d0e0f", secret);
    if (iote_keys_init(&K, secret, sizeof secret) != IOTE_OK) {
        fputs("keys_init failed\n", stderr);
        return 1;
    }
    test_hmac();
    test_keys();
    test_base64();
    test_pkcs7();
    test_cbc_pkcs7();
    test_seal_open();
    test_malformed();
    test_json_rules();
    test_resync();
    test_window();
    test_newline();
    test_text_cap();
    test_stops_early();
    test_threads();
#if IOTE_WITH_LEAN
    test_lean();
#endif
    iote_keys_wipe(&K);
    printf("%s: %d checks, %d failed\n", iote_be_name(), checks, failures);
    return failures == 0 ? 0 : 1;
}
