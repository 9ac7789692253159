/*
 * iote-runner: checks envelope vectors with the C library, and (on a host) seals/opens on request.
 *
 * Vector protocol (what iotenvelope/peers/c.py writes; the same on a host and on the AVR over its UART).
 * Lines end in '\n'; "<n> bytes" blocks follow their line verbatim (binary safe). Numbers are decimal.
 *   K <secret hex>                          set the device secret          -> "key <rc>"
 *   O <tcId> <fmt c|j> <recv u|d> <n>       + n bytes of envelope text: open it, remember the outcome
 *   X <code>                                the case expects error <code>  -> "pass <tcId>" | "fail <tcId> ..."
 *   V <dir> <type> <dev> <seq> <ts> <iv hex> <reseal 0|1> <m>   + m bytes of expected plaintext;
 *       then, if reseal: R <n> + n bytes: seal the plaintext again with the same fields and iv and compare.
 *                                                                      -> "pass <tcId>" | "fail <tcId> ..."
 *   C <tcId> <key hex> <iv hex> <code> <m> <n>   + m bytes of plaintext + n bytes of ciphertext: AES-CBC +
 *       PKCS#7 alone (iote_cbc_pkcs7_*, what seal/open run; for Wycheproof's AES-CBC-PKCS5 file). code 0:
 *       decrypting the ciphertext gives the plaintext and encrypting the plaintext gives the ciphertext;
 *       otherwise decrypting must fail with error <code>.           -> "pass <tcId>" | "fail <tcId> ..."
 *   L <tcId> <recv u|d> <dev> <window 0|1> <n>   + n bytes of lean envelope text (SPEC.md 5.3): open it for
 *       device <dev> with the lean keys, remember the outcome like O; with window 1 an opened envelope must
 *       then pass the replay window (W), whose refusal becomes the outcome. V (iv "-": derived) and X follow.
 *   W                                       a fresh replay window (W = 64) for L ... 1, and no failed step
 *   P <code> <m>                            + m bytes: an intermediate step of a multi-envelope case: the last
 *       L gave <code> (0: opened, and to these m plaintext bytes); prints nothing, a mismatch fails the case's
 *       final V/X verdict.
 *   Q                                       quit                           -> "bye"
 * K derives the keys of both forms (compact/JSON and lean). Error codes are the iote_err numbers
 * (iotenvelope.h); the replay window's are IOTE_REPLAY_DUPLICATE / _TOO_OLD.
 *
 * Built without a feature (-DIOTE_WITH_JSON=0 / -DIOTE_WITH_AES256=0, the AVR device configuration), a case that
 * needs it gets "unsupported <tcId> json|aes256" instead of pass/fail - only once the library itself refused
 * it the way iotenvelope.h documents: iote_keys_init and iote_cbc_pkcs7_* answer a 32-byte key with bad-key
 * (K then answers "key unsupported aes256"), iote_open answers the JSON form, or a refused key, with argument.
 * Any other answer is an ordinary verdict (so a fail). A build with the feature never says "unsupported".
 *
 * On a host the runner opens into a separate, exactly sized heap buffer and seals into another, each
 * followed by canary bytes that must survive (AddressSanitizer sees any overrun of the exact size too). On
 * the AVR it works in place in one buffer, as a device with 2 KB of RAM would.
 */
#include <stdint.h>
#include <string.h>

#include "iote_backend.h"
#include "iotenvelope.h"

#if defined(__AVR__)
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#ifndef IO_BUF
#define IO_BUF 1520
#endif
#else
#include <stdio.h>
#include <stdlib.h>

#include "read_all.h"
#define IO_BUF 65536
#endif

/* ---- byte I/O ------------------------------------------------------------------------------------------ */

#if defined(__AVR__)
static void io_init(void)
{
    UBRR0 = 0; /* 2 Mbit/s at 16 MHz with U2X: the simulated wire is not the bottleneck */
    UCSR0A = (uint8_t)(1u << U2X0);
    UCSR0B = (uint8_t)((1u << RXEN0) | (1u << TXEN0));
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00));
}

static int io_getc(void)
{
    GPIOR1 = 1; /* "send me one byte": the simulator harness (avrsim) paces its input by this request */
    while (!(UCSR0A & (1u << RXC0))) {
    }
    return UDR0;
}

static void io_putc(char c)
{
    while (!(UCSR0A & (1u << UDRE0))) {
    }
    UDR0 = (uint8_t)c;
}

static void io_flush(void)
{
}
#else
static void io_init(void)
{
}

static int io_getc(void)
{
    return getchar();
}

static void io_putc(char c)
{
    putchar(c);
}

static void io_flush(void)
{
    fflush(stdout);
}
#endif

/* Messages are literals wrapped in MSG_STR(): in flash on AVR. */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define MSG_STR(s) PSTR(s)
static void io_puts(const char *s)
{
    char c;
    while ((c = (char)pgm_read_byte(s++)) != '\0') {
        io_putc(c);
    }
}
#else
#define MSG_STR(s) (s)
static void io_puts(const char *s)
{
    while (*s) {
        io_putc(*s++);
    }
}
#endif

static void io_putu(uint32_t v)
{
    char tmp[11];
    int i = 10;
    tmp[i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (tmp[i] != '\0') {
        io_putc(tmp[i++]);
    }
}

/* ---- tokens -------------------------------------------------------------------------------------------- */

static int last_delim; /* the character that ended the last token: ' ', '\n' or -1 */

/* Read one space-separated token into tok (NUL-terminated); returns its length, or -1 if it did not fit
 * (the rest of the token is consumed). */
static int rd_token(char *tok, size_t cap)
{
    size_t n = 0;
    int c;
    int over = 0;
    do {
        c = io_getc();
    } while (c == ' ' || c == '\n');
    while (c != ' ' && c != '\n' && c != -1) {
        if (n + 1 < cap) {
            tok[n++] = (char)c;
        } else {
            over = 1;
        }
        c = io_getc();
    }
    tok[n] = '\0';
    last_delim = c;
    return over ? -1 : (int)n;
}

/* Read one token and compare it with want; consumes the whole token. */
static int rd_token_equals(const char *want)
{
    int c;
    int same = 1;
    do {
        c = io_getc();
    } while (c == ' ' || c == '\n');
    while (c != ' ' && c != '\n' && c != -1) {
        if (*want == '\0' || *want != (char)c) {
            same = 0;
        } else {
            want++;
        }
        c = io_getc();
    }
    last_delim = c;
    return same && *want == '\0';
}

static void skip_line(void)
{
    int c = last_delim;
    while (c != '\n' && c != -1) {
        c = io_getc();
    }
    last_delim = '\n';
}

static uint32_t to_u32(const char *s, int *ok)
{
    uint32_t v = 0;
    if (*s == '\0') {
        *ok = 0;
    }
    for (; *s; s++) {
        uint32_t d = (uint32_t)(*s - '0');
        if (d > 9u || v > (0xFFFFFFFFu - d) / 10u) {
            *ok = 0;
            return 0;
        }
        v = v * 10u + d;
    }
    return v;
}

static int hex_nibble(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int from_hex(const char *s, uint8_t *out, size_t want)
{
    size_t i;
    if (strlen(s) != 2 * want) {
        return 0;
    }
    for (i = 0; i < want; i++) {
        int hi = hex_nibble(s[2 * i]);
        int lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return 0;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return 1;
}

/* Read n bytes and compare them with want[0..have); returns 1 when equal (always consumes n bytes). */
static int rd_compare(const uint8_t *want, size_t have, uint32_t n)
{
    uint32_t i;
    int same = (have == n);
    for (i = 0; i < n; i++) {
        int c = io_getc();
        if (i >= have || c != want[i]) {
            same = 0;
        }
    }
    return same;
}

/* ---- state --------------------------------------------------------------------------------------------- */

static iote_keys keys;
#if IOTE_WITH_LEAN
static iote_lean_keys lean_keys;
static char lean_dev[IOTE_MAX_DEV + 2];
static iote_window window;
#endif
static uint8_t step_failed; /* a P step of the current case went wrong */
static iote_header hdr;
static char tok[34]; /* the longest token kept whole is an IV in hex; device ids are compared as they come */
#if defined(__AVR__)
static uint8_t buf[IO_BUF];
#define MSG buf
#else
static uint8_t *msg_heap;  /* the opened plaintext, exactly sized */
#define MSG msg_heap
#endif
static size_t msg_len;
static int open_rc;
/* a feature this build left out (see the top): which one the last K / O needed, confirmed by the library */
#define FEAT_JSON 1u
#define FEAT_AES256 2u
static uint8_t key_unsupported; /* FEAT_AES256 after a 32-byte secret refused with bad-key, else 0 */
static uint8_t open_unsupported;
static uint8_t open_fmt;
static uint32_t tc_id;

static void verdict_unsupported(uint8_t feature)
{
    step_failed = 0; /* the case is over */
    io_puts(MSG_STR("unsupported "));
    io_putu(tc_id);
    io_puts(feature == FEAT_JSON ? MSG_STR(" json\n") : MSG_STR(" aes256\n"));
    io_flush();
}

static void verdict(int ok, const char *why, int code)
{
    step_failed = 0; /* the case is over */
    io_puts(ok ? MSG_STR("pass ") : MSG_STR("fail "));
    io_putu(tc_id);
    if (!ok) {
        io_putc(' ');
        io_puts(why);
        if (code >= 0) {
            io_putc(' ');
            io_putu((uint32_t)code);
        }
    }
    io_putc('\n');
    io_flush();
}

#if !defined(__AVR__)
static const uint8_t CANARY[16] = {0xA5, 0x5A, 0xC3, 0x3C, 0x96, 0x69, 0xF0, 0x0F,
                                   0xA5, 0x5A, 0xC3, 0x3C, 0x96, 0x69, 0xF0, 0x0F};
static int canary_broken;

static uint8_t *guarded(size_t n)
{
    uint8_t *p = (uint8_t *)malloc(n + sizeof CANARY);
    if (p == NULL) {
        fputs("out of memory\n", stderr);
        exit(70);
    }
    memcpy(p + n, CANARY, sizeof CANARY);
    return p;
}

static void check_guard(const uint8_t *p, size_t n)
{
    if (memcmp(p + n, CANARY, sizeof CANARY) != 0) {
        canary_broken = 1;
    }
}
#endif

/* the open of O and L: compact/JSON with keys, or lean with lean_keys for lean_dev */
static int open_any(uint8_t recv, const uint8_t *text, size_t n, uint8_t *out, size_t cap)
{
#if IOTE_WITH_LEAN
    if (open_fmt == IOTE_FMT_LEAN) {
        return iote_lean_open(&lean_keys, recv, lean_dev, (uint8_t)strlen(lean_dev), text, n, IOTE_FMT_LEAN, out, cap,
                              &hdr, &msg_len);
    }
#endif
    return iote_open(&keys, recv, (const char *)text, n, open_fmt, out, cap, &hdr, &msg_len);
}

/* O <tcId> <fmt> <recv> <n> + n bytes;  L <tcId> <recv> <dev> <window> <n> + n bytes */
static void cmd_open(int lean)
{
    int ok = 1;
    uint8_t recv, missing;
    uint8_t use_window = 0;
    uint32_t n;
    rd_token(tok, sizeof tok);
    tc_id = to_u32(tok, &ok);
    if (!lean) {
        rd_token(tok, sizeof tok);
        open_fmt = tok[0] == 'j' ? IOTE_FMT_JSON : IOTE_FMT_COMPACT;
    }
    rd_token(tok, sizeof tok);
    recv = tok[0] == 'd' ? IOTE_DOWN : IOTE_UP;
    if (lean) {
#if IOTE_WITH_LEAN
        open_fmt = IOTE_FMT_LEAN;
        if (rd_token(lean_dev, sizeof lean_dev) < 0) {
            ok = 0;
        }
        rd_token(tok, sizeof tok);
        use_window = tok[0] == '1';
#else
        ok = 0; /* this build has no lean form */
        rd_token(tok, sizeof tok);
        rd_token(tok, sizeof tok);
#endif
    }
    rd_token(tok, sizeof tok);
    n = to_u32(tok, &ok);
    skip_line();
    msg_len = 0;
    /* the feature this case needs that the build left out (JSON first), or 0 */
    missing = (!IOTE_WITH_JSON && open_fmt == IOTE_FMT_JSON) ? FEAT_JSON : key_unsupported;
    open_unsupported = 0;
#if defined(__AVR__)
    if (!ok || (n > IO_BUF && missing == 0)) {
        while (n--) {
            (void)io_getc();
        }
        open_rc = -1;
        return;
    }
    {
        /* a case the build cannot open may be longer than buf: the library gets the part that fits */
        uint32_t i;
        for (i = 0; i < n; i++) {
            uint8_t c = (uint8_t)io_getc();
            if (i < IO_BUF) {
                buf[i] = c;
            }
        }
    }
    open_rc = open_any(recv, buf, n < IO_BUF ? n : IO_BUF, buf, IO_BUF);
#else
    {
        /* text and output in separate exactly sized heap blocks; the output gets the decoded size */
        uint8_t *text = guarded(n);
        size_t cap = n; /* compact needs 3/4 of it, JSON less */
        uint32_t i;
        for (i = 0; i < n; i++) {
            int c = io_getc();
            text[i] = (uint8_t)c;
        }
        free(msg_heap);
        msg_heap = guarded(cap);
        open_rc = ok ? open_any(recv, text, n, msg_heap, cap) : -1;
        check_guard(text, n);
        check_guard(msg_heap, cap);
        free(text);
    }
#endif
    if (missing != 0 && open_rc == IOTE_ERR_ARGUMENT) {
        open_unsupported = missing;
    }
#if IOTE_WITH_LEAN
    if (use_window && open_rc == IOTE_OK) {
        open_rc = iote_window_accept(&window, hdr.seq);
    }
#else
    (void)use_window;
#endif
}

/* P <code> <m> + m bytes */
static void cmd_step(void)
{
    int ok = 1;
    uint32_t want, m;
    rd_token(tok, sizeof tok);
    want = to_u32(tok, &ok);
    rd_token(tok, sizeof tok);
    m = to_u32(tok, &ok);
    skip_line();
    if (!rd_compare(MSG, open_rc == IOTE_OK ? msg_len : 0, m) || !ok || (uint32_t)open_rc != want) {
        step_failed = 1;
    }
}

/* X <code> */
static void cmd_expect_error(void)
{
    int ok = 1;
    uint32_t want;
    rd_token(tok, sizeof tok);
    want = to_u32(tok, &ok);
    skip_line();
    if (ok && open_unsupported) {
        verdict_unsupported(open_unsupported);
    } else if (step_failed) {
        verdict(0, MSG_STR("an earlier envelope of the case"), -1);
    } else if (open_rc == IOTE_OK) {
        verdict(0, MSG_STR("opened; expected error"), (int)want);
    } else {
        verdict(ok && (uint32_t)open_rc == want, MSG_STR("got error"), open_rc);
    }
}

/* V <dir> <type> <dev> <seq> <ts> <iv> <reseal> <m> + m bytes [R <n> + n bytes] */
static void cmd_expect_valid(void)
{
    int ok = 1;
    const char *why = MSG_STR("");
    uint8_t dir, type, reseal;
    uint32_t seq, ts, m;
    uint8_t iv[IOTE_IV_LEN];
    int same_dev;
    int proto_ok;

    rd_token(tok, sizeof tok);
    dir = tok[0] == 'd' ? IOTE_DOWN : IOTE_UP;
    rd_token(tok, sizeof tok);
    type = (uint8_t)to_u32(tok, &ok);
    same_dev = rd_token_equals(open_rc == IOTE_OK ? hdr.dev : "");
    rd_token(tok, sizeof tok);
    seq = to_u32(tok, &ok);
    rd_token(tok, sizeof tok);
    ts = to_u32(tok, &ok);
    rd_token(tok, sizeof tok);
    if (!(open_fmt == IOTE_FMT_LEAN && tok[0] == '-' && tok[1] == '\0') && !from_hex(tok, iv, sizeof iv)) {
        ok = 0; /* the lean form has no IV on the wire: "-" */
    }
    rd_token(tok, sizeof tok);
    reseal = tok[0] == '1';
    rd_token(tok, sizeof tok);
    m = to_u32(tok, &ok);
    skip_line();

    proto_ok = ok;
    if (!ok) {
        why = MSG_STR("bad-protocol-line");
    } else if (open_rc != IOTE_OK) {
        ok = 0;
        why = MSG_STR("open-failed");
    } else if (hdr.direction != dir || hdr.type != type || !same_dev || hdr.seq != seq || hdr.ts != ts) {
        ok = 0;
        why = MSG_STR("header-mismatch");
    }
    if (!rd_compare(MSG, open_rc == IOTE_OK ? msg_len : 0, m) && ok) {
        ok = 0;
        why = MSG_STR("plaintext-mismatch");
    }
    if (reseal) {
        uint32_t n;
        int parsed = 1;
        rd_token(tok, sizeof tok); /* "R" */
        rd_token(tok, sizeof tok);
        n = to_u32(tok, &parsed);
        skip_line();
        if (parsed && open_rc != IOTE_OK) {
            while (n--) { /* nothing opened, nothing to seal again: ok is already 0 */
                (void)io_getc();
            }
        } else if (parsed) {
            iote_fields f;
            size_t out_len = 0;
            int rc;
            f.direction = hdr.direction;
            f.type = hdr.type;
            f.dev = hdr.dev;
            f.dev_len = hdr.dev_len;
            f.seq = hdr.seq;
            f.ts = hdr.ts;
#if defined(__AVR__)
#if IOTE_WITH_LEAN
            if (open_fmt == IOTE_FMT_LEAN) {
                rc = iote_lean_seal(&lean_keys, &f, buf, msg_len, IOTE_FMT_LEAN, buf, IO_BUF, &out_len);
            } else
#endif
            {
                rc = iote_seal(&keys, &f, iv, buf, msg_len, open_fmt, (char *)buf, IO_BUF, &out_len);
            }
            if (!rd_compare(buf, rc == IOTE_OK ? out_len : 0, n) && ok) {
                ok = 0;
                why = MSG_STR("seal-mismatch");
            }
#else
            {
                size_t want = open_fmt == IOTE_FMT_LEAN ? iote_lean_sealed_len(&f, msg_len, IOTE_FMT_LEAN)
                                                        : iote_sealed_len(&f, msg_len, open_fmt);
                uint8_t *out = guarded(want + 1); /* exactly the stated size, NUL included */
#if IOTE_WITH_LEAN
                if (open_fmt == IOTE_FMT_LEAN) {
                    rc = iote_lean_seal(&lean_keys, &f, msg_heap, msg_len, IOTE_FMT_LEAN, out, want + 1, &out_len);
                } else
#endif
                {
                    rc = iote_seal(&keys, &f, iv, msg_heap, msg_len, open_fmt, (char *)out, want + 1, &out_len);
                }
                if ((!rd_compare(out, rc == IOTE_OK ? out_len : 0, n) || out_len != want) && ok) {
                    ok = 0;
                    why = MSG_STR("seal-mismatch");
                }
                check_guard(out, want + 1);
                free(out);
            }
#endif
        } else {
            while (n--) {
                (void)io_getc();
            }
            ok = 0;
            why = MSG_STR("bad-protocol-line");
            proto_ok = 0;
        }
    }
#if !defined(__AVR__)
    if (canary_broken) {
        ok = 0;
        why = MSG_STR("canary-overwritten");
        canary_broken = 0;
    }
#endif
    if (proto_ok && open_unsupported) {
        verdict_unsupported(open_unsupported);
    } else {
        verdict(ok && !step_failed, step_failed ? MSG_STR("an earlier envelope of the case") : why, -1);
    }
}

/* Read a hex token straight into bytes (keys are longer than tok); returns the byte count, or -1 for a bad
 * digit, an odd count or more than cap bytes (the whole token is consumed either way). */
static int rd_hex(uint8_t *out, size_t cap)
{
    size_t n = 0;
    int bad = 0;
    int c;
    do {
        c = io_getc();
    } while (c == ' ');
    while (c != ' ' && c != '\n' && c != -1) {
        int v = hex_nibble(c);
        if (v < 0 || n >= 2 * cap) {
            bad = 1;
        } else {
            out[n / 2] = (uint8_t)((n % 2) ? (out[n / 2] | v) : (v << 4));
            n++;
        }
        c = io_getc();
    }
    last_delim = c;
    return (bad || n % 2 != 0) ? -1 : (int)(n / 2);
}

static void cmd_key(void)
{
    uint8_t secret[32];
    int n = rd_hex(secret, sizeof secret);
    int rc;
    skip_line();
    iote_keys_wipe(&keys); /* frees the previous key's backend contexts */
    rc = (n == 16 || n == 32) ? iote_keys_init(&keys, secret, (size_t)n) : IOTE_ERR_BAD_KEY;
#if IOTE_WITH_LEAN
    iote_lean_keys_wipe(&lean_keys);
    if (rc == IOTE_OK) {
        rc = iote_lean_keys_init(&lean_keys, secret, (size_t)n);
    }
#endif
    memset(secret, 0, sizeof secret);
    key_unsupported = (!IOTE_WITH_AES256 && n == 32 && rc == IOTE_ERR_BAD_KEY) ? FEAT_AES256 : 0;
    io_puts(MSG_STR("key "));
    if (key_unsupported) {
        io_puts(MSG_STR("unsupported aes256"));
    } else {
        io_putu((uint32_t)rc);
    }
    io_putc('\n');
    io_flush();
}

/* C <tcId> <key hex> <iv hex> <code> <m> <n> + m bytes of plaintext + n bytes of ciphertext */
static void cmd_cipher(void)
{
    uint8_t key[32];
    uint8_t iv[IOTE_IV_LEN];
    int ok = 1;
    int len_ok = 1;
    int key_len;
    uint32_t want, m, n, i;
    size_t padded, got = 0;
    uint8_t *msg, *ct, *enc, *dec;
    int rc;
    const char *why = MSG_STR("");
    int code = -1;
    uint8_t unsupported = 0;

    rd_token(tok, sizeof tok);
    tc_id = to_u32(tok, &ok);
    key_len = rd_hex(key, sizeof key);
    rd_token(tok, sizeof tok);
    if (!from_hex(tok, iv, sizeof iv)) {
        ok = 0;
    }
    rd_token(tok, sizeof tok);
    want = to_u32(tok, &ok);
    rd_token(tok, sizeof tok);
    m = to_u32(tok, &len_ok);
    rd_token(tok, sizeof tok);
    n = to_u32(tok, &len_ok);
    skip_line();
    if (!len_ok) { /* the byte blocks cannot be skipped: nothing sensible follows */
        verdict(0, MSG_STR("bad-protocol-line"), -1);
        return;
    }
    padded = ((size_t)m / 16u + 1u) * 16u;
#if defined(__AVR__)
    /* plaintext, ciphertext and one work area (encrypt first, then decrypt) side by side in buf */
    if ((uint32_t)IO_BUF < m || (uint32_t)IO_BUF - m < n || (uint32_t)IO_BUF - m - n < (padded > n ? padded : n)) {
        for (i = 0; i < m + n; i++) {
            (void)io_getc();
        }
        verdict(0, MSG_STR("too-long"), -1);
        return;
    }
    msg = buf;
    ct = buf + m;
    enc = buf + m + n;
    dec = enc;
#else
    /* every buffer exactly sized, with a canary behind it */
    msg = guarded(m);
    ct = guarded(n);
    enc = guarded(padded);
    dec = guarded(n);
#endif
    for (i = 0; i < m; i++) {
        msg[i] = (uint8_t)io_getc();
    }
    for (i = 0; i < n; i++) {
        ct[i] = (uint8_t)io_getc();
    }
    if (!ok || key_len < 0) {
        ok = 0;
        why = MSG_STR("bad-protocol-line");
    } else if (!IOTE_WITH_AES256 && key_len == 32) {
        /* AES-256 left out: encrypt and decrypt must both refuse the key with bad-key */
        if (m != 0) {
            memcpy(enc, msg, m);
        }
        rc = iote_cbc_pkcs7_encrypt(key, (size_t)key_len, iv, enc, m, padded, &got);
        if (n != 0) {
            memcpy(dec, ct, n);
        }
        if (rc == IOTE_ERR_BAD_KEY) {
            rc = iote_cbc_pkcs7_decrypt(key, (size_t)key_len, iv, dec, n, &got);
        }
        if (rc == IOTE_ERR_BAD_KEY) {
            unsupported = FEAT_AES256;
        } else {
            ok = 0;
            why = MSG_STR("aes256-key-not-refused");
            code = rc;
        }
    } else {
        if (want == IOTE_OK) { /* encrypt first: on AVR the work area is shared */
            if (m != 0) {
                memcpy(enc, msg, m);
            }
            rc = iote_cbc_pkcs7_encrypt(key, (size_t)key_len, iv, enc, m, padded, &got);
            if (rc != IOTE_OK) {
                ok = 0;
                why = MSG_STR("encrypt-failed");
                code = rc;
            } else if (got != n || memcmp(enc, ct, n) != 0) {
                ok = 0;
                why = MSG_STR("ciphertext-mismatch");
            }
        }
        if (n != 0) {
            memcpy(dec, ct, n);
        }
        rc = iote_cbc_pkcs7_decrypt(key, (size_t)key_len, iv, dec, n, &got);
        if (!ok) {
            /* keep the first reason */
        } else if (want == IOTE_OK && rc != IOTE_OK) {
            ok = 0;
            why = MSG_STR("decrypt-failed");
            code = rc;
        } else if (want == IOTE_OK && (got != m || memcmp(dec, msg, m) != 0)) {
            ok = 0;
            why = MSG_STR("plaintext-mismatch");
        } else if (want != IOTE_OK && rc == IOTE_OK) {
            ok = 0;
            why = MSG_STR("decrypted; expected error");
            code = (int)want;
        } else if (want != IOTE_OK && (uint32_t)rc != want) {
            ok = 0;
            why = MSG_STR("got error");
            code = rc;
        }
    }
#if !defined(__AVR__)
    check_guard(msg, m);
    check_guard(ct, n);
    check_guard(enc, padded);
    check_guard(dec, n);
    free(msg);
    free(ct);
    free(enc);
    free(dec);
    if (canary_broken) {
        ok = 0;
        why = MSG_STR("canary-overwritten");
        code = -1;
        canary_broken = 0;
    }
#endif
    memset(key, 0, sizeof key);
    if (ok && unsupported) {
        verdict_unsupported(unsupported);
    } else {
        verdict(ok, why, code);
    }
}

static int vector_loop(void)
{
    for (;;) {
        int c = io_getc();
        if (c == -1) {
            return 0;
        }
        if (c == '\n') {
            continue;
        }
        last_delim = ' ';
        switch (c) {
        case 'K': cmd_key(); break;
        case 'O': cmd_open(0); break;
        case 'L': cmd_open(1); break;
        case 'P': cmd_step(); break;
        case 'W':
            skip_line();
#if IOTE_WITH_LEAN
            iote_window_init(&window);
#endif
            step_failed = 0;
            break;
        case 'X': cmd_expect_error(); break;
        case 'V': cmd_expect_valid(); break;
        case 'C': cmd_cipher(); break;
        case 'Q':
            io_puts(MSG_STR("bye\n"));
            io_flush();
            return 0;
        default:
            skip_line();
            io_puts(MSG_STR("unknown command\n"));
            io_flush();
        }
    }
}

#if defined(__AVR__)
/* Stack high-water mark: paint the free RAM between the static data and the stack at start; at the end,
 * count how much of it was never touched. */
extern uint8_t __heap_start;
#define PAINT 0xA5

static void paint_stack(void)
{
    uint8_t *p = &__heap_start;
    uint8_t *sp = (uint8_t *)SP;
    while (p < sp - 16) {
        *p++ = PAINT;
    }
}

static uint16_t untouched_ram(void)
{
    const uint8_t *p = &__heap_start;
    uint16_t n = 0;
    while (p[n] == PAINT) {
        n++;
    }
    return n;
}

int main(void)
{
    paint_stack();
    io_init();
    vector_loop();
    io_puts(MSG_STR("free "));
    io_putu(untouched_ram());
    io_putc('\n');
    cli();
    sleep_enable();
    sleep_cpu(); /* simavr ends the simulation: sleeping with interrupts off */
    for (;;) {
    }
}
#else
/* ---- host command line ------------------------------------------------------------------------------- */

static const char *USAGE =
    "usage: iote-runner vectors                      (vector protocol on stdin, see the source)\n"
    "       iote-runner info                         (backend and error names)\n"
    "       iote-runner seal --key HEX --device ID --seq N --ts N [--iv HEX] [--dir up|down]\n"
    "                        [--type data|resync-request|resync-response] [--format compact|json|lean|lean-raw]\n"
    "                        < plaintext                (lean: no --iv, the IV is derived from seq)\n"
    "       iote-runner open --key HEX [--dir up|down] [--format auto|compact|json]  < envelope\n"
    "       iote-runner open --key HEX --format lean|lean-raw --device ID [--dir up|down]  < envelope\n"
    "       iote-runner resync-request --key HEX --device ID --seq N --ts N --nonce HEX [--iv HEX] [--format F]\n"
    "       iote-runner resync-accept --key HEX --nonce HEX --counter N [--sent-ms N --now-ms N] [--format F]\n"
    "                        < response   (the request was sent at --sent-ms, the response read at --now-ms:\n"
    "                        the device's monotonic milliseconds, both 0 unless given)\n"
    "Text input may end in one LF or CR LF (the library removes it); seal prints one after the text.\n";

static int exit_code(int rc)
{
    switch (rc) {
    case IOTE_OK: return 0;
    case IOTE_ERR_MALFORMED:
    case IOTE_ERR_VERSION:
    case IOTE_ERR_PADDING: return 3;
    case IOTE_ERR_BAD_KEY: return 4;
    case IOTE_ERR_AUTH:
    case IOTE_ERR_DIRECTION: return 5;
    case IOTE_ERR_ARGUMENT: return 2;
    case IOTE_ERR_STALE: return 7;
    default: return 10;
    }
}

static int fail(int rc)
{
    fprintf(stderr, "iote-runner: error %s\n", iote_error_name(rc));
    return exit_code(rc);
}

static const char *opt(int argc, char **argv, const char *name)
{
    int i;
    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static int hex_arg(const char *s, uint8_t *out, size_t max, size_t *len)
{
    size_t n = s == NULL ? 0 : strlen(s);
    if (s == NULL || n % 2 != 0 || n / 2 > max || !from_hex(s, out, n / 2)) {
        return 0;
    }
    *len = n / 2;
    return 1;
}

static int random_bytes(uint8_t *out, size_t n)
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f == NULL ? 0 : fread(out, 1, n, f);
    if (f != NULL) {
        fclose(f);
    }
    return got == n;
}

static iote_lean_keys lean_keys;

static int is_lean(int format)
{
    return format == IOTE_FMT_LEAN || format == IOTE_FMT_LEAN_RAW;
}

/* --key and --format; lean formats (allow_lean) derive the lean keys instead of the compact/JSON ones */
static int parse_common(int argc, char **argv, int *format, int allow_auto, int allow_lean)
{
    uint8_t secret[32];
    size_t len = 0;
    int rc;
    const char *fmt = opt(argc, argv, "--format");
    if (!hex_arg(opt(argc, argv, "--key"), secret, sizeof secret, &len)) {
        fputs("iote-runner: --key HEX (16 or 32 bytes) is required\n", stderr);
        return IOTE_ERR_BAD_KEY;
    }
    *format = allow_auto ? IOTE_FMT_AUTO : IOTE_FMT_COMPACT;
    if (fmt != NULL) {
        *format = strcmp(fmt, "json") == 0       ? IOTE_FMT_JSON
                  : strcmp(fmt, "compact") == 0  ? IOTE_FMT_COMPACT
                  : strcmp(fmt, "lean") == 0     ? IOTE_FMT_LEAN
                  : strcmp(fmt, "lean-raw") == 0 ? IOTE_FMT_LEAN_RAW
                                                 : -1;
        if ((*format < 0 && !(allow_auto && strcmp(fmt, "auto") == 0)) || (is_lean(*format) && !allow_lean)) {
            return IOTE_ERR_ARGUMENT;
        }
        if (*format < 0) {
            *format = IOTE_FMT_AUTO;
        }
    }
    rc = is_lean(*format) ? iote_lean_keys_init(&lean_keys, secret, len) : iote_keys_init(&keys, secret, len);
    memset(secret, 0, sizeof secret);
    return rc;
}

static int parse_fields(int argc, char **argv, iote_fields *f, uint8_t iv[IOTE_IV_LEN])
{
    const char *dev = opt(argc, argv, "--device");
    const char *dir = opt(argc, argv, "--dir");
    const char *type = opt(argc, argv, "--type");
    const char *seq = opt(argc, argv, "--seq");
    const char *ts = opt(argc, argv, "--ts");
    size_t ivlen = 0;
    int ok = 1;
    if (dev == NULL || seq == NULL || ts == NULL || strlen(dev) > 255) {
        return IOTE_ERR_ARGUMENT;
    }
    f->dev = dev;
    f->dev_len = (uint8_t)strlen(dev);
    f->direction = (dir == NULL || strcmp(dir, "up") == 0) ? IOTE_UP : strcmp(dir, "down") == 0 ? IOTE_DOWN : 0;
    f->type = type == NULL || strcmp(type, "data") == 0 ? IOTE_TYPE_DATA
              : strcmp(type, "resync-request") == 0     ? IOTE_TYPE_RESYNC_REQUEST
              : strcmp(type, "resync-response") == 0    ? IOTE_TYPE_RESYNC_RESPONSE
                                                        : 9;
    f->seq = to_u32(seq, &ok);
    f->ts = to_u32(ts, &ok);
    if (!ok) {
        return IOTE_ERR_ARGUMENT;
    }
    if (opt(argc, argv, "--iv") != NULL) {
        if (!hex_arg(opt(argc, argv, "--iv"), iv, IOTE_IV_LEN, &ivlen) || ivlen != IOTE_IV_LEN) {
            return IOTE_ERR_ARGUMENT;
        }
    } else if (!random_bytes(iv, IOTE_IV_LEN)) {
        return IOTE_ERR_BACKEND;
    }
    return IOTE_OK;
}

static int emit(const char *text, size_t len)
{
    fwrite(text, 1, len, stdout);
    putchar('\n');
    return 0;
}

static int cli_seal(int argc, char **argv, int resync)
{
    iote_fields f;
    uint8_t iv[IOTE_IV_LEN];
    uint8_t nonce[IOTE_NONCE_LEN];
    int format;
    size_t len = 0, need, out_len = 0;
    uint8_t *msg;
    char *out;
    iote_resync rs;
    int rc = parse_common(argc, argv, &format, 0, !resync);
    if (rc != IOTE_OK) {
        return fail(rc);
    }
    rc = parse_fields(argc, argv, &f, iv);
    if (rc == IOTE_OK && is_lean(format) && opt(argc, argv, "--iv") != NULL) {
        fputs("iote-runner: the lean form derives its IV from --seq (no --iv)\n", stderr);
        rc = IOTE_ERR_ARGUMENT;
    }
    if (rc != IOTE_OK) {
        return fail(rc);
    }
    if (resync) {
        size_t nlen = 0;
        if (!hex_arg(opt(argc, argv, "--nonce"), nonce, sizeof nonce, &nlen) || nlen != sizeof nonce) {
            return fail(IOTE_ERR_ARGUMENT);
        }
        f.direction = IOTE_UP;
        f.type = IOTE_TYPE_RESYNC_REQUEST;
        msg = nonce;
        len = sizeof nonce;
    } else {
        msg = read_all(stdin, &len);
        if (msg == NULL) {
            return fail(IOTE_ERR_ARGUMENT);
        }
    }
    need = is_lean(format) ? iote_lean_sealed_len(&f, len, format) : iote_sealed_len(&f, len, format);
    out = (char *)malloc(need + 1);
    if (need == 0 || out == NULL) {
        rc = IOTE_ERR_MALFORMED;
    } else if (resync) {
        rc = iote_resync_request(&keys, &rs, f.dev, f.dev_len, f.seq, f.ts, iv, nonce, 0, format, out, need + 1,
                                 &out_len);
    } else if (is_lean(format)) {
        rc = iote_lean_seal(&lean_keys, &f, msg, len, format, out, need + 1, &out_len);
    } else {
        rc = iote_seal(&keys, &f, iv, msg, len, format, out, need + 1, &out_len);
    }
    if (rc == IOTE_OK && format == IOTE_FMT_LEAN_RAW) {
        fwrite(out, 1, out_len, stdout); /* binary: no newline */
    } else if (rc == IOTE_OK) {
        emit(out, out_len);
    }
    free(out);
    if (!resync) {
        free(msg);
    }
    return rc == IOTE_OK ? 0 : fail(rc);
}

static int cli_open(int argc, char **argv)
{
    const char *dir = opt(argc, argv, "--dir");
    int format;
    size_t len = 0, n = 0;
    const char *dev = opt(argc, argv, "--device");
    uint8_t *text;
    uint8_t expect = (dir != NULL && strcmp(dir, "down") == 0) ? IOTE_DOWN : IOTE_UP;
    int rc = parse_common(argc, argv, &format, 1, 1);
    if (rc != IOTE_OK) {
        return fail(rc);
    }
    if (is_lean(format) && (dev == NULL || strlen(dev) > 255)) {
        fputs("iote-runner: the lean form needs --device ID (it is not on the wire)\n", stderr);
        return fail(IOTE_ERR_ARGUMENT);
    }
    text = read_all(stdin, &len);
    if (text == NULL) {
        return fail(IOTE_ERR_ARGUMENT);
    }
    /* in place; the library removes one trailing newline from text and nothing else */
    if (is_lean(format)) {
        rc = iote_lean_open(&lean_keys, expect, dev, (uint8_t)strlen(dev), text, len, format, text, len, &hdr, &n);
    } else {
        rc = iote_open(&keys, expect, (const char *)text, len, format, text, len, &hdr, &n);
    }
    if (rc == IOTE_OK) {
        fwrite(text, 1, n, stdout);
        fprintf(stderr, "device=%s seq=%lu ts=%lu type=%u dir=%u\n", hdr.dev, (unsigned long)hdr.seq,
                (unsigned long)hdr.ts, (unsigned)hdr.type, (unsigned)hdr.direction);
    }
    free(text);
    return rc == IOTE_OK ? 0 : fail(rc);
}

static int cli_resync_accept(int argc, char **argv)
{
    iote_resync rs;
    size_t nlen = 0, len = 0;
    uint32_t counter, backend_time = 0, now_ms = 0;
    int ok = 1;
    int format;
    uint8_t *text;
    int rc = parse_common(argc, argv, &format, 1, 0);
    if (rc != IOTE_OK) {
        return fail(rc);
    }
    memset(&rs, 0, sizeof rs);
    if (!hex_arg(opt(argc, argv, "--nonce"), rs.nonce, sizeof rs.nonce, &nlen) || nlen != sizeof rs.nonce ||
        opt(argc, argv, "--counter") == NULL) {
        return fail(IOTE_ERR_ARGUMENT);
    }
    rs.pending = 1; /* the request this process stands for was sent at --sent-ms */
    if (opt(argc, argv, "--sent-ms") != NULL) {
        rs.sent_ms = to_u32(opt(argc, argv, "--sent-ms"), &ok);
    }
    if (opt(argc, argv, "--now-ms") != NULL) {
        now_ms = to_u32(opt(argc, argv, "--now-ms"), &ok);
    }
    counter = to_u32(opt(argc, argv, "--counter"), &ok);
    text = read_all(stdin, &len);
    if (!ok || text == NULL) {
        free(text);
        return fail(IOTE_ERR_ARGUMENT);
    }
    rc = iote_resync_accept(&keys, &rs, (const char *)text, len, format, text, len, now_ms, &counter, &backend_time);
    free(text);
    if (rc != IOTE_OK) {
        return fail(rc);
    }
    printf("counter=%lu time=%lu\n", (unsigned long)counter, (unsigned long)backend_time);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "vectors";
    int rc;
    if (strcmp(cmd, "vectors") == 0) {
        io_init();
        rc = vector_loop();
        free(msg_heap);
        return rc;
    }
    if (strcmp(cmd, "info") == 0) {
        int i;
        printf("backend %s\nlibrary %s\njson %d\naes256 %d\nerrors", iote_be_name(), IOTE_VERSION_STRING,
               IOTE_WITH_JSON, IOTE_WITH_AES256);
        for (i = 0; i <= IOTE_ERR_STALE; i++) {
            printf(" %s", iote_error_name(i));
        }
        putchar('\n');
        return 0;
    }
    if (strcmp(cmd, "seal") == 0) {
        return cli_seal(argc, argv, 0);
    }
    if (strcmp(cmd, "resync-request") == 0) {
        return cli_seal(argc, argv, 1);
    }
    if (strcmp(cmd, "open") == 0) {
        return cli_open(argc, argv);
    }
    if (strcmp(cmd, "resync-accept") == 0) {
        return cli_resync_accept(argc, argv);
    }
    fputs(USAGE, stderr);
    return 2;
}
#endif
