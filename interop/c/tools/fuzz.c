/*
 * libFuzzer harness for the C library's decoders and seal/open (build: make fuzz, clang with
 * -fsanitize=fuzzer,address,undefined; tests/test_c.py runs each build for a few seconds).
 *
 * The first input byte picks what the rest is fed to; the rest goes into an exactly sized heap copy (so
 * AddressSanitizer sees any read past it) and is opened into an exactly sized heap buffer:
 *   0 compact   1 JSON   2 auto   3 lean text   4 lean raw   5 resync response   6 in place (compact/JSON/auto)
 *   7 seal round trip: the input chooses fields, format and plaintext; seal, open, compare, then damage one byte
 * Bits 3..7 of the first byte shorten the output buffer (so IOTE_ERR_BUFFER paths run too).
 * Whatever an open accepts must seal back to exactly its input (compact and lean have one encoding per
 * message; a JSON text must at least reopen to the same message), and a damaged compact or lean envelope must
 * never open. Any violation aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotenvelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static iote_keys keys;
static iote_lean_keys lean_keys;
static const char LEAN_DEV[] = "fz-1";

static void fail(const char *what)
{
    fprintf(stderr, "iote-fuzz: invariant broken: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const uint8_t secret[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    (void)argc;
    (void)argv;
    if (iote_keys_init(&keys, secret, sizeof secret) != IOTE_OK ||
        iote_lean_keys_init(&lean_keys, secret, sizeof secret) != IOTE_OK) {
        fail("key derivation");
    }
    return 0;
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
    uint8_t *c = (uint8_t *)malloc(n ? n : 1);
    if (c == NULL) {
        abort();
    }
    if (n) {
        memcpy(c, p, n);
    }
    return c;
}

/* An opened compact or lean envelope sealed again from what open reported: must give the input back. */
static void reseal_compact(const char *text, size_t len, const iote_header *h, const uint8_t *msg, size_t n)
{
    iote_fields f;
    uint8_t raw[IOTE_MAX_RAW];
    size_t raw_len = 0, out_len = 0, need;
    char *out;
    if (iote_b64url_decode(text, len, raw, sizeof raw, &raw_len) != IOTE_OK) {
        fail("opened compact text does not decode");
    }
    f.direction = h->direction;
    f.type = h->type;
    f.dev = h->dev;
    f.dev_len = h->dev_len;
    f.seq = h->seq;
    f.ts = h->ts;
    need = iote_sealed_len(&f, n, IOTE_FMT_COMPACT);
    out = (char *)malloc(need + 1);
    if (out == NULL || iote_seal(&keys, &f, raw + 12 + h->dev_len, msg, n, IOTE_FMT_COMPACT, out, need + 1,
                                 &out_len) != IOTE_OK) {
        fail("cannot seal an opened compact envelope again");
    }
    if (out_len != len || memcmp(out, text, len) != 0) {
        fail("an accepted compact text is not the canonical encoding of its message");
    }
    free(out);
}

static void reseal_lean(const uint8_t *in, size_t len, int format, const iote_header *h, const uint8_t *msg,
                        size_t n)
{
    iote_fields f;
    size_t need, out_len = 0;
    uint8_t *out;
    f.direction = h->direction;
    f.type = h->type;
    f.dev = h->dev;
    f.dev_len = h->dev_len;
    f.seq = h->seq;
    f.ts = h->ts;
    need = iote_lean_sealed_len(&f, n, format);
    out = (uint8_t *)malloc(need + 1);
    if (out == NULL || iote_lean_seal(&lean_keys, &f, msg, n, format, out, need + 1, &out_len) != IOTE_OK) {
        fail("cannot seal an opened lean envelope again");
    }
    if (format == IOTE_FMT_LEAN && len >= 1 && in[len - 1] == '\n') { /* the one newline open removed */
        len -= (len >= 2 && in[len - 2] == '\r') ? 2 : 1;
    }
    if (out_len != len || memcmp(out, in, len) != 0) {
        fail("an accepted lean envelope is not the encoding of its message");
    }
    free(out);
}

static void open_one(int mode, const uint8_t *in, size_t n, size_t shorten)
{
    uint8_t *text = copy_of(in, n);
    size_t cap = n > shorten ? n - shorten : 0;
    uint8_t *buf = (uint8_t *)malloc(cap ? cap : 1);
    iote_header h;
    size_t m = 0;
    int rc;
    if (buf == NULL) {
        abort();
    }
    switch (mode) {
    case 0:
    case 1:
    case 2:
        rc = iote_open(&keys, IOTE_UP, (const char *)text, n, mode, buf, cap, &h, &m);
        if (rc == IOTE_OK && m > cap) {
            fail("plaintext longer than the buffer");
        }
        if (rc == IOTE_OK && mode == IOTE_FMT_COMPACT) {
            size_t len = n;
            if (len >= 1 && text[len - 1] == '\n') {
                len -= (len >= 2 && text[len - 2] == '\r') ? 2 : 1;
            }
            reseal_compact((const char *)text, len, &h, buf, m);
        }
        break;
    case 3:
    case 4:
        rc = iote_lean_open(&lean_keys, IOTE_UP, LEAN_DEV, sizeof LEAN_DEV - 1, text, n,
                            mode == 3 ? IOTE_FMT_LEAN : IOTE_FMT_LEAN_RAW, buf, cap, &h, &m);
        if (rc == IOTE_OK) {
            reseal_lean(text, n, mode == 3 ? IOTE_FMT_LEAN : IOTE_FMT_LEAN_RAW, &h, buf, m);
        }
        break;
    case 5: {
        iote_resync rs;
        uint32_t counter = 5, when = 0;
        memset(&rs, 0, sizeof rs);
        rs.pending = 1;
        rs.sent_ms = 1000;
        rc = iote_resync_accept(&keys, &rs, (const char *)text, n, IOTE_FMT_AUTO, buf, cap,
                                1000u + (uint32_t)(shorten * 4000u), &counter, &when);
        if (rc != IOTE_OK && counter != 5) {
            fail("a refused resync response changed the counter");
        }
        break;
    }
    default: /* in place: the text is its own buffer */
        rc = iote_open(&keys, IOTE_UP, (const char *)text, n, (int)(shorten % 3), text, n, &h, &m);
        if (rc == IOTE_OK && m > n) {
            fail("in-place plaintext longer than the text");
        }
        break;
    }
    (void)rc;
    free(text);
    free(buf);
}

/* Mode 7: the input chooses the fields and the plaintext; seal, open, compare; damage one byte, refuse. */
static void round_trip(const uint8_t *in, size_t n)
{
    static const char devchars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:#!";
    char dev[IOTE_MAX_DEV];
    iote_fields f;
    iote_header h;
    size_t i, need, out_len = 0, m = 0, msg_len;
    int fmt, rc;
    uint8_t iv[IOTE_IV_LEN] = {0};
    uint8_t *out, *buf;
    const uint8_t *msg;
    if (n < 12) {
        return;
    }
    fmt = in[0] % 4; /* compact, JSON, lean text, lean raw */
    f.direction = (uint8_t)(1 + (in[1] & 1));
    f.type = (uint8_t)(in[1] >> 1) % 3;
    f.dev_len = (uint8_t)(1 + in[2] % IOTE_MAX_DEV);
    for (i = 0; i < f.dev_len; i++) {
        dev[i] = devchars[(in[3] + i * 7u) % (sizeof devchars - 1)];
    }
    f.dev = dev;
    f.seq = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
    f.ts = (in[8] & 1) ? (uint32_t)in[9] << 24 | (uint32_t)in[10] << 16 | in[11] : 0u;
    memcpy(iv, in, n < IOTE_IV_LEN ? n : IOTE_IV_LEN);
    msg = in + 12;
    msg_len = n - 12;
    need = fmt < 2 ? iote_sealed_len(&f, msg_len, fmt) : iote_lean_sealed_len(&f, msg_len, fmt + 1);
    out = (uint8_t *)malloc(need + 1);
    buf = (uint8_t *)malloc(need + 1);
    if (out == NULL || buf == NULL) {
        abort();
    }
    rc = fmt < 2 ? iote_seal(&keys, &f, iv, msg, msg_len, fmt, (char *)out, need + 1, &out_len)
                 : iote_lean_seal(&lean_keys, &f, msg, msg_len, fmt + 1, out, need + 1, &out_len);
    if (rc != IOTE_OK || out_len != need) {
        fail("seal of valid fields failed");
    }
    rc = fmt < 2 ? iote_open(&keys, f.direction, (const char *)out, out_len, fmt, buf, need + 1, &h, &m)
                 : iote_lean_open(&lean_keys, f.direction, dev, f.dev_len, out, out_len, fmt + 1, buf, need + 1, &h,
                                  &m);
    if (rc != IOTE_OK || m != msg_len || memcmp(buf, msg, msg_len) != 0 || h.seq != f.seq || h.ts != f.ts ||
        h.type != f.type || h.dev_len != f.dev_len || memcmp(h.dev, dev, f.dev_len) != 0) {
        fail("what was sealed does not open to the same message");
    }
    if (fmt != 1) { /* compact and lean have one encoding: any changed byte is refused */
        size_t pos = (in[8] * 256u + in[9]) % out_len;
        out[pos] ^= (uint8_t)(1u << (in[10] % 8));
        rc = fmt == 0 ? iote_open(&keys, f.direction, (const char *)out, out_len, fmt, buf, need + 1, &h, &m)
                      : iote_lean_open(&lean_keys, f.direction, dev, f.dev_len, out, out_len, fmt + 1, buf, need + 1,
                                       &h, &m);
        if (rc == IOTE_OK) {
            fail("a damaged envelope opened");
        }
    }
    free(out);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int mode;
    if (size < 1) {
        return 0;
    }
    mode = data[0] & 7;
    if (mode == 7) {
        round_trip(data + 1, size - 1);
    } else {
        open_one(mode, data + 1, size - 1, data[0] >> 3);
    }
    return 0;
}
