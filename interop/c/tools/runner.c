/*
 * iote-runner: the C library as a row of `iotenvelope verify`, and (on a host) seal/open on the command line.
 *
 * Host: `iote-runner protocol` answers the verify runner protocol v1 (docs/runner-protocol.md): one flat JSON
 * request per line on stdin, one JSON answer per line on stdout; ops open, open-many (one fresh iote_window),
 * seal, cbc-decrypt, cbc-encrypt (iote_cbc_pkcs7_*); forms compact, json, lean. Errors are iote_error_name()'s
 * SPEC names; a 24-byte key, which the library refuses (no AES-192), is answered "unsupported". The runner never
 * sees a vector file: verify compares the answers. Every buffer the library writes is exactly sized on the
 * heap with canary bytes behind it (AddressSanitizer sees any overrun of the exact size too).
 *
 * AVR: 2 KB of RAM cannot hold a 1000-byte case as JSON text, so the device speaks a small line protocol on
 * its UART and the JSON side is a host adapter (iotenvelope/verify/peers/c.py, through tools/avrsim.c). Lines
 * end in '\n', numbers are decimal, "+ n bytes" blocks follow their line verbatim. Every answer is one line
 * "r <rc> <free> <len>" (rc: the iote_err number; free: RAM bytes the stack never reached, 0 = it reached the
 * static data; len: bytes after the line, 0 unless rc is 0):
 *   K <secret hex>                                         derive the keys of both forms      -> r ...
 *   W                                                      a fresh replay window (W = 64)     -> r ...
 *   O <fmt c|j|l> <recv u|d> <dev hex|-> <window 0|1> <n>  + n bytes of envelope text: open it in place
 *       (lean: for device <dev>; window 1: the opened seq must then pass the window)
 *                     -> "r <rc> <free> <m> <dir u|d> <type> <seq> <ts> <dev hex>" + m plaintext bytes
 *   S <fmt c|j|l> <dir u|d> <type> <seq> <ts> <iv hex|-> <dev hex> <m>  + m plaintext bytes: seal in place
 *       (lean: iv "-", derived from seq)                             -> r ... <n> + n bytes of text
 *   D|E <key hex> <iv hex> <n>  + n bytes: AES-CBC + PKCS#7 decrypt / encrypt in place -> r ... + result bytes
 *   Q                                                      quit                    -> "bye", "free <bytes>"
 * Input longer than the buffer (IO_BUF) is consumed and answered IOTE_ERR_BUFFER: the adapter then uses the
 * ATmega2560 build. A build without JSON or AES-256 (the device configuration) answers what its library
 * answers (iote_open: argument for the JSON form or a refused key; iote_keys_init/iote_cbc_*: bad-key for a
 * 32-byte key); the adapter turns exactly those into "unsupported".
 */
#if !defined(__AVR__)
#define _POSIX_C_SOURCE 200809L /* getline */
#endif
#include <stddef.h>
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

#if defined(__AVR__)
/* ---- byte I/O (the UART) ------------------------------------------------------------------------------------------ */

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

/* Messages are literals wrapped in MSG_STR(): in flash on AVR. */
#include <avr/pgmspace.h>
#define MSG_STR(s) PSTR(s)
static void io_puts(const char *s)
{
    char c;
    while ((c = (char)pgm_read_byte(s++)) != '\0') {
        io_putc(c);
    }
}

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

static void skip_line(void)
{
    int c = last_delim;
    while (c != '\n' && c != -1) {
        c = io_getc();
    }
    last_delim = '\n';
}

static char tok[34]; /* the longest token kept whole is an IV in hex */
#endif /* __AVR__ */

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

#if defined(__AVR__)
/* Read a hex token straight into bytes; returns the byte count, or -1 for a bad digit, an odd count or more
 * than cap bytes (the whole token is consumed either way). */
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


/* ---- the device line protocol (AVR) ----------------------------------------------------------------------- */

/* Stack high-water mark: the free RAM between the static data and the stack is painted at start; every answer
 * reports how much of it was never touched (0: the stack reached the static data). */
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

static iote_keys keys;
#if IOTE_WITH_LEAN
static iote_lean_keys lean_keys;
static iote_window window;
#endif
static iote_header hdr;
static char dev[IOTE_MAX_DEV + 1];
static uint8_t buf[IO_BUF];

/* "r <rc> <free> <len>" and, when rc is 0, what follows on that line; the caller ends it */
static void answer(int rc, size_t len)
{
    io_puts(MSG_STR("r "));
    io_putu((uint32_t)rc);
    io_putc(' ');
    io_putu(untouched_ram());
    io_putc(' ');
    io_putu(rc == IOTE_OK ? (uint32_t)len : 0u);
}

/* the answer line, then len raw bytes of buf when rc is 0 */
static void answer_bytes(int rc, size_t len)
{
    size_t i;
    answer(rc, len);
    io_putc('\n');
    for (i = 0; rc == IOTE_OK && i < len; i++) {
        io_putc((char)buf[i]);
    }
    io_flush();
}

/* n bytes of input into buf; more than buf holds: consumed, IOTE_ERR_BUFFER */
static int rd_block(uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)io_getc();
        if (i < IO_BUF) {
            buf[i] = c;
        }
    }
    return n > IO_BUF ? IOTE_ERR_BUFFER : IOTE_OK;
}

static int rd_u32(uint32_t *v)
{
    int ok = 1;
    rd_token(tok, sizeof tok);
    *v = to_u32(tok, &ok);
    return ok;
}

static int rd_format(void)
{
    rd_token(tok, sizeof tok);
    return tok[0] == 'j' ? IOTE_FMT_JSON : tok[0] == 'l' ? IOTE_FMT_LEAN : IOTE_FMT_COMPACT;
}

/* a device id in hex ("-": none) into dev; its length (0: none) */
static int rd_dev(void)
{
    int n = rd_hex((uint8_t *)dev, IOTE_MAX_DEV);
    if (n < 0) {
        n = 0; /* "-" or not hex: no device id */
    }
    dev[n] = '\0';
    return n;
}

/* K <secret hex> */
static void cmd_key(void)
{
    uint8_t secret[32];
    int n = rd_hex(secret, sizeof secret);
    int rc;
    skip_line();
    iote_keys_wipe(&keys);
    rc = (n == 16 || n == 32) ? iote_keys_init(&keys, secret, (size_t)n) : IOTE_ERR_BAD_KEY;
#if IOTE_WITH_LEAN
    iote_lean_keys_wipe(&lean_keys);
    if (rc == IOTE_OK) {
        rc = iote_lean_keys_init(&lean_keys, secret, (size_t)n);
    }
#endif
    memset(secret, 0, sizeof secret);
    answer(rc, 0);
    io_putc('\n');
    io_flush();
}

/* O <fmt c|j|l> <recv u|d> <dev hex|-> <window 0|1> <n> + n bytes */
static void cmd_open(void)
{
    int format = rd_format();
    uint8_t recv, use_window;
    uint32_t n;
    size_t m = 0;
    int dev_len, ok, rc;
    size_t i;
    rd_token(tok, sizeof tok);
    recv = tok[0] == 'd' ? IOTE_DOWN : IOTE_UP;
    dev_len = rd_dev();
    rd_token(tok, sizeof tok);
    use_window = tok[0] == '1';
    ok = rd_u32(&n);
    skip_line();
    rc = ok ? rd_block(n) : IOTE_ERR_ARGUMENT;
    if (rc == IOTE_OK && format == IOTE_FMT_LEAN) {
#if IOTE_WITH_LEAN
        rc = dev_len <= 0 ? IOTE_ERR_ARGUMENT
                          : iote_lean_open(&lean_keys, recv, dev, (uint8_t)dev_len, buf, n, IOTE_FMT_LEAN, buf, IO_BUF,
                                           &hdr, &m);
#else
        rc = IOTE_ERR_ARGUMENT;
#endif
    } else if (rc == IOTE_OK) {
        rc = iote_open(&keys, recv, (const char *)buf, n, format, buf, IO_BUF, &hdr, &m);
    }
#if IOTE_WITH_LEAN
    if (rc == IOTE_OK && use_window) {
        rc = iote_window_accept(&window, hdr.seq);
    }
#else
    (void)use_window;
#endif
    answer(rc, m);
    if (rc == IOTE_OK) {
        io_puts(hdr.direction == IOTE_DOWN ? MSG_STR(" d ") : MSG_STR(" u "));
        io_putu(hdr.type);
        io_putc(' ');
        io_putu(hdr.seq);
        io_putc(' ');
        io_putu(hdr.ts);
        io_putc(' ');
        for (i = 0; i < hdr.dev_len; i++) {
            io_putc("0123456789abcdef"[(uint8_t)hdr.dev[i] >> 4]);
            io_putc("0123456789abcdef"[(uint8_t)hdr.dev[i] & 15u]);
        }
    }
    io_putc('\n');
    for (i = 0; rc == IOTE_OK && i < m; i++) {
        io_putc((char)buf[i]);
    }
    io_flush();
}

/* S <fmt c|j|l> <dir u|d> <type> <seq> <ts> <iv hex|-> <dev hex> <m> + m bytes */
static void cmd_seal(void)
{
    int format = rd_format();
    iote_fields f;
    uint8_t iv[IOTE_IV_LEN];
    uint32_t type = 0, m = 0;
    size_t out_len = 0;
    int ok, dev_len, rc;
    rd_token(tok, sizeof tok);
    f.direction = tok[0] == 'd' ? IOTE_DOWN : IOTE_UP;
    ok = rd_u32(&type);
    ok &= rd_u32(&f.seq);
    ok &= rd_u32(&f.ts);
    rd_token(tok, sizeof tok);
    if (!(format == IOTE_FMT_LEAN && tok[0] == '-') && !from_hex(tok, iv, sizeof iv)) {
        ok = 0; /* the lean form derives its IV from seq: "-" */
    }
    dev_len = rd_dev();
    ok &= rd_u32(&m);
    skip_line();
    f.type = (uint8_t)type;
    f.dev = dev;
    f.dev_len = (uint8_t)(dev_len > 0 ? dev_len : 0);
    rc = rd_block(m);
    if (!ok || dev_len <= 0) {
        rc = IOTE_ERR_ARGUMENT;
    } else if (rc == IOTE_OK && format == IOTE_FMT_LEAN) {
#if IOTE_WITH_LEAN
        rc = iote_lean_seal(&lean_keys, &f, buf, m, IOTE_FMT_LEAN, buf, IO_BUF, &out_len);
#else
        rc = IOTE_ERR_ARGUMENT;
#endif
    } else if (rc == IOTE_OK) {
        rc = iote_seal(&keys, &f, iv, buf, m, format, (char *)buf, IO_BUF, &out_len);
    }
    answer_bytes(rc, out_len);
}

/* D|E <key hex> <iv hex> <n> + n bytes: AES-CBC + PKCS#7 alone (iote_cbc_pkcs7_*), in place */
static void cmd_cipher(int encrypt)
{
    uint8_t key[32];
    uint8_t iv[IOTE_IV_LEN];
    int key_len = rd_hex(key, sizeof key);
    uint32_t n = 0;
    size_t got = 0;
    int ok, rc;
    rd_token(tok, sizeof tok);
    ok = from_hex(tok, iv, sizeof iv);
    ok &= rd_u32(&n);
    skip_line();
    rc = rd_block(n);
    if (!ok || key_len < 0) {
        rc = IOTE_ERR_ARGUMENT;
    } else if (rc == IOTE_OK && encrypt) {
        rc = iote_cbc_pkcs7_encrypt(key, (size_t)key_len, iv, buf, n, IO_BUF, &got);
    } else if (rc == IOTE_OK) {
        rc = iote_cbc_pkcs7_decrypt(key, (size_t)key_len, iv, buf, n, &got);
    }
    memset(key, 0, sizeof key);
    answer_bytes(rc, got);
}

static void line_loop(void)
{
    for (;;) {
        int c = io_getc();
        if (c == '\n') {
            continue;
        }
        last_delim = ' ';
        switch (c) {
        case 'K': cmd_key(); break;
        case 'O': cmd_open(); break;
        case 'S': cmd_seal(); break;
        case 'D': cmd_cipher(0); break;
        case 'E': cmd_cipher(1); break;
        case 'W':
            skip_line();
#if IOTE_WITH_LEAN
            iote_window_init(&window);
#endif
            answer(IOTE_OK, 0);
            io_putc('\n');
            io_flush();
            break;
        case 'Q':
            io_puts(MSG_STR("bye\n"));
            return;
        default:
            skip_line();
            answer(IOTE_ERR_ARGUMENT, 0);
            io_putc('\n');
            io_flush();
        }
    }
}

int main(void)
{
    paint_stack();
    io_init();
    line_loop();
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

/* ---- the verify runner protocol (host): docs/runner-protocol.md ----------------------------------------------- */

static const uint8_t CANARY[16] = {0xA5, 0x5A, 0xC3, 0x3C, 0x96, 0x69, 0xF0, 0x0F,
                                   0xA5, 0x5A, 0xC3, 0x3C, 0x96, 0x69, 0xF0, 0x0F};
static int canary_broken;

/* n bytes (at least 1 allocated) followed by canary bytes that must survive */
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

static void release(uint8_t *p, size_t n)
{
    if (p != NULL && memcmp(p + n, CANARY, sizeof CANARY) != 0) {
        canary_broken = 1;
    }
    free(p);
}

/* A request: one flat JSON object. Strings are decoded (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs) into
 * byte strings; integers into num; the one array a request carries (open-many's envelopes) into a list of
 * strings. Members this runner does not use are skipped (objects and arrays by nesting depth). */
typedef struct {
    char *s; /* NUL-terminated (the length counts any NUL inside) */
    size_t n;
    int set;
} jstr;

#define MAX_MANY 64

typedef struct {
    long long id;
    int has_id;
    jstr op, form, secret_hex, key_hex, iv_hex, ct_hex, plaintext_hex, direction, envelope, device, type;
    jstr envelopes[MAX_MANY];
    size_t n_envelopes;
    int has_envelopes;
    long long seq, ts;
    int has_seq, has_ts;
} request;

typedef struct {
    const char *p, *end;
} scanner;

static void ws(scanner *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\r' || *sc->p == '\n')) {
        sc->p++;
    }
}

static void put_utf8(char *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80u) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800u) {
        out[(*n)++] = (char)(0xC0u | (cp >> 6));
        out[(*n)++] = (char)(0x80u | (cp & 0x3Fu));
    } else if (cp < 0x10000u) {
        out[(*n)++] = (char)(0xE0u | (cp >> 12));
        out[(*n)++] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[(*n)++] = (char)(0x80u | (cp & 0x3Fu));
    } else {
        out[(*n)++] = (char)(0xF0u | (cp >> 18));
        out[(*n)++] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
        out[(*n)++] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[(*n)++] = (char)(0x80u | (cp & 0x3Fu));
    }
}

static int hex4(const char *p, uint32_t *v)
{
    int i;
    *v = 0;
    for (i = 0; i < 4; i++) {
        int d = hex_nibble(p[i]);
        if (d < 0) {
            return 0;
        }
        *v = (*v << 4) | (uint32_t)d;
    }
    return 1;
}

/* a string at sc->p (the opening quote); into out when out is not NULL (decoded is never longer) */
static int scan_string(scanner *sc, jstr *out)
{
    char *dst = NULL;
    size_t n = 0;
    const char *start;
    if (sc->p >= sc->end || *sc->p != '"') {
        return 0;
    }
    start = ++sc->p;
    if (out != NULL) {
        const char *q = start;
        while (q < sc->end && *q != '"') {
            q += (*q == '\\' && q + 1 < sc->end) ? 2 : 1;
        }
        dst = (char *)malloc((size_t)(q - start) + 1);
        if (dst == NULL) {
            fputs("out of memory\n", stderr);
            exit(70);
        }
    }
    while (sc->p < sc->end && *sc->p != '"') {
        char c = *sc->p++;
        uint32_t cp;
        if ((unsigned char)c < 0x20) {
            free(dst);
            return 0;
        }
        if (c != '\\') {
            if (dst != NULL) {
                dst[n++] = c;
            }
            continue;
        }
        if (sc->p >= sc->end) {
            break;
        }
        c = *sc->p++;
        switch (c) {
        case '"': case '\\': case '/': cp = (uint32_t)c; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (sc->end - sc->p < 4 || !hex4(sc->p, &cp)) {
                free(dst);
                return 0;
            }
            sc->p += 4;
            if (cp >= 0xD800u && cp < 0xDC00u && sc->end - sc->p >= 6 && sc->p[0] == '\\' && sc->p[1] == 'u') {
                uint32_t lo;
                if (hex4(sc->p + 2, &lo) && lo >= 0xDC00u && lo < 0xE000u) {
                    cp = 0x10000u + ((cp - 0xD800u) << 10) + (lo - 0xDC00u);
                    sc->p += 6;
                }
            }
            break;
        default:
            free(dst);
            return 0;
        }
        if (dst != NULL) {
            put_utf8(dst, &n, cp);
        }
    }
    if (sc->p >= sc->end) {
        free(dst);
        return 0;
    }
    sc->p++; /* closing quote */
    if (out != NULL) {
        free(out->s); /* a repeated member: the last one counts */
        dst[n] = '\0';
        out->s = dst;
        out->n = n;
        out->set = 1;
    }
    return 1;
}

/* an integer; 0 for anything else (a fraction, an exponent, more than 18 digits) */
static int scan_int(scanner *sc, long long *v)
{
    int neg = 0, digits = 0;
    *v = 0;
    if (sc->p < sc->end && *sc->p == '-') {
        neg = 1;
        sc->p++;
    }
    while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9') {
        if (++digits > 18) {
            return 0;
        }
        *v = *v * 10 + (*sc->p++ - '0');
    }
    if (neg) {
        *v = -*v;
    }
    return digits > 0;
}

/* any value, not kept */
static int skip_value(scanner *sc)
{
    int depth = 0;
    do {
        ws(sc);
        if (sc->p >= sc->end) {
            return 0;
        }
        if (*sc->p == '"') {
            if (!scan_string(sc, NULL)) {
                return 0;
            }
        } else if (*sc->p == '{' || *sc->p == '[') {
            depth++;
            sc->p++;
            continue;
        } else if (*sc->p == '}' || *sc->p == ']') {
            if (depth == 0) {
                return 0;
            }
            depth--;
            sc->p++;
        } else if (*sc->p == ',' || *sc->p == ':') {
            if (depth == 0) {
                return 0;
            }
            sc->p++;
            continue;
        } else {
            while (sc->p < sc->end && strchr(",:]} \t\r\n", *sc->p) == NULL) {
                sc->p++;
            }
        }
    } while (depth > 0);
    return 1;
}

static jstr *string_member(request *rq, const char *key)
{
    static const struct {
        const char *name;
        size_t off;
    } members[] = {
        {"op", offsetof(request, op)},
        {"form", offsetof(request, form)},
        {"secret_hex", offsetof(request, secret_hex)},
        {"key_hex", offsetof(request, key_hex)},
        {"iv_hex", offsetof(request, iv_hex)},
        {"ct_hex", offsetof(request, ct_hex)},
        {"plaintext_hex", offsetof(request, plaintext_hex)},
        {"direction", offsetof(request, direction)},
        {"envelope", offsetof(request, envelope)},
        {"device", offsetof(request, device)},
        {"type", offsetof(request, type)},
    };
    size_t i;
    for (i = 0; i < sizeof members / sizeof members[0]; i++) {
        if (strcmp(key, members[i].name) == 0) {
            return (jstr *)((char *)rq + members[i].off);
        }
    }
    return NULL;
}

static void free_request(request *rq)
{
    size_t i;
    jstr *all[] = {&rq->op, &rq->form, &rq->secret_hex, &rq->key_hex, &rq->iv_hex, &rq->ct_hex,
                   &rq->plaintext_hex, &rq->direction, &rq->envelope, &rq->device, &rq->type};
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->s);
    }
    for (i = 0; i < rq->n_envelopes; i++) {
        free(rq->envelopes[i].s);
    }
    memset(rq, 0, sizeof *rq);
}

/* the array of strings of open-many */
static int scan_envelopes(scanner *sc, request *rq)
{
    size_t i;
    for (i = 0; i < rq->n_envelopes; i++) {
        free(rq->envelopes[i].s);
    }
    memset(rq->envelopes, 0, sizeof rq->envelopes);
    rq->n_envelopes = 0;
    sc->p++; /* [ */
    ws(sc);
    if (sc->p < sc->end && *sc->p == ']') {
        sc->p++;
        rq->has_envelopes = 1;
        return 1;
    }
    for (;;) {
        ws(sc);
        if (rq->n_envelopes == MAX_MANY || !scan_string(sc, &rq->envelopes[rq->n_envelopes])) {
            return 0;
        }
        rq->n_envelopes++;
        ws(sc);
        if (sc->p < sc->end && *sc->p == ',') {
            sc->p++;
        } else if (sc->p < sc->end && *sc->p == ']') {
            sc->p++;
            rq->has_envelopes = 1;
            return 1;
        } else {
            return 0;
        }
    }
}

static int parse_request(const char *line, size_t len, request *rq)
{
    scanner sc;
    memset(rq, 0, sizeof *rq);
    sc.p = line;
    sc.end = line + len;
    ws(&sc);
    if (sc.p >= sc.end || *sc.p++ != '{') {
        return 0;
    }
    ws(&sc);
    if (sc.p < sc.end && *sc.p == '}') {
        return 1;
    }
    for (;;) {
        jstr key = {NULL, 0, 0};
        jstr *target;
        ws(&sc);
        if (!scan_string(&sc, &key)) {
            return 0;
        }
        ws(&sc);
        if (sc.p >= sc.end || *sc.p++ != ':') {
            free(key.s);
            return 0;
        }
        ws(&sc);
        target = string_member(rq, key.s);
        if (sc.p < sc.end && *sc.p == '"' && target != NULL) {
            if (!scan_string(&sc, target)) {
                free(key.s);
                return 0;
            }
        } else if (sc.p < sc.end && (*sc.p == '-' || (*sc.p >= '0' && *sc.p <= '9')) &&
                   (strcmp(key.s, "id") == 0 || strcmp(key.s, "seq") == 0 || strcmp(key.s, "ts") == 0)) {
            long long v;
            int ok = scan_int(&sc, &v);
            if (key.s[0] == 'i') {
                rq->id = v;
                rq->has_id = ok;
            } else if (key.s[0] == 's') {
                rq->seq = v;
                rq->has_seq = ok;
            } else {
                rq->ts = v;
                rq->has_ts = ok;
            }
            if (!ok) { /* not an integer: skip what is left of the number */
                while (sc.p < sc.end && strchr(",} \t\r\n", *sc.p) == NULL) {
                    sc.p++;
                }
            }
        } else if (sc.p < sc.end && *sc.p == '[' && strcmp(key.s, "envelopes") == 0) {
            if (!scan_envelopes(&sc, rq)) {
                free(key.s);
                return 0;
            }
        } else if (!skip_value(&sc)) { /* null, or a member this runner does not read */
            free(key.s);
            return 0;
        }
        free(key.s);
        ws(&sc);
        if (sc.p < sc.end && *sc.p == ',') {
            sc.p++;
        } else if (sc.p < sc.end && *sc.p == '}') {
            return 1;
        } else {
            return 0;
        }
    }
}

/* ---- answers ---- */

static void out_hex(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

/* a JSON string: quotes, backslashes and control characters escaped, other bytes as they are (UTF-8) */
static void out_str(const char *s, size_t n)
{
    size_t i;
    putchar('"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20 || c == 0x7F) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void out_begin(const request *rq, int ok)
{
    printf("{\"id\": %lld, \"ok\": %s", rq->has_id ? rq->id : 0LL, ok ? "true" : "false");
}

static void out_end(void)
{
    fputs("}\n", stdout);
    fflush(stdout);
}

static void out_error_text(const char *error, const char *message)
{
    fputs(", \"error\": ", stdout);
    out_str(error, strlen(error));
    if (message != NULL) {
        fputs(", \"message\": ", stdout);
        out_str(message, strlen(message));
    }
}

static void answer_error(const request *rq, const char *error, const char *message)
{
    out_begin(rq, 0);
    out_error_text(error, message);
    out_end();
}

static void answer_rc(const request *rq, int rc)
{
    answer_error(rq, iote_error_name(rc), NULL);
}

/* ---- requests ---- */

/* the compact/JSON and lean keys of the last secret (derived again only when the secret changes) */
static char *cached_secret;
static iote_keys keys;
static iote_lean_keys lean_keys;
static int keys_rc = -1;
static iote_header hdr;

static int hex_bytes(const jstr *h, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!h->set || h->n % 2 != 0) {
        return 0;
    }
    *n = h->n / 2;
    *out = guarded(*n);
    if (!from_hex(h->s, *out, *n)) {
        release(*out, *n);
        *out = NULL;
        return 0;
    }
    return 1;
}

static int use_secret(const jstr *secret_hex)
{
    uint8_t secret[32];
    size_t n;
    if (cached_secret != NULL && secret_hex->set && strcmp(cached_secret, secret_hex->s) == 0) {
        return keys_rc;
    }
    free(cached_secret);
    cached_secret = NULL;
    if (keys_rc == IOTE_OK) {
        iote_keys_wipe(&keys);
        iote_lean_keys_wipe(&lean_keys);
    }
    keys_rc = -1;
    if (!secret_hex->set) {
        return IOTE_ERR_BAD_KEY;
    }
    n = secret_hex->n / 2;
    if (secret_hex->n % 2 != 0 || (n != 16 && n != 32) || !from_hex(secret_hex->s, secret, n)) {
        return IOTE_ERR_BAD_KEY; /* not cached: nothing to wipe */
    }
    keys_rc = iote_keys_init(&keys, secret, n);
    if (keys_rc == IOTE_OK) {
        keys_rc = iote_lean_keys_init(&lean_keys, secret, n);
        if (keys_rc != IOTE_OK) {
            iote_keys_wipe(&keys);
        }
    }
    memset(secret, 0, sizeof secret);
    if (keys_rc != IOTE_OK) {
        int rc = keys_rc;
        keys_rc = -1;
        return rc;
    }
    cached_secret = (char *)malloc(secret_hex->n + 1);
    if (cached_secret == NULL) {
        exit(70);
    }
    memcpy(cached_secret, secret_hex->s, secret_hex->n + 1);
    return keys_rc;
}

static int is(const jstr *s, const char *want)
{
    return s->set && strcmp(s->s, want) == 0;
}

static int form_of(const jstr *form)
{
    return is(form, "compact") ? IOTE_FMT_COMPACT : is(form, "json") ? IOTE_FMT_JSON : is(form, "lean") ? IOTE_FMT_LEAN : -1;
}

static const char *type_name(uint8_t type)
{
    return type == IOTE_TYPE_DATA ? "data" : type == IOTE_TYPE_RESYNC_REQUEST ? "resync-request" : "resync-response";
}

/* open one envelope text; on success the plaintext is in *msg (guarded, *msg_len bytes, caller releases) */
static int open_text(const request *rq, int format, const jstr *text, uint8_t **msg, size_t *msg_len, size_t *cap)
{
    uint8_t recv = is(&rq->direction, "down") ? IOTE_DOWN : IOTE_UP;
    uint8_t *in = guarded(text->n);
    int rc;
    memcpy(in, text->s, text->n);
    *cap = text->n; /* the plaintext is shorter than its text */
    *msg = guarded(*cap);
    *msg_len = 0;
    if (format == IOTE_FMT_LEAN) {
        rc = (!rq->device.set || rq->device.n > 255)
                 ? IOTE_ERR_ARGUMENT
                 : iote_lean_open(&lean_keys, recv, rq->device.s, (uint8_t)rq->device.n, in, text->n, IOTE_FMT_LEAN,
                                  *msg, *cap, &hdr, msg_len);
    } else {
        rc = iote_open(&keys, recv, (const char *)in, text->n, format, *msg, *cap, &hdr, msg_len);
    }
    release(in, text->n);
    return rc;
}

/* the members of a successful open (after "ok": true) */
static void out_opened(const uint8_t *msg, size_t msg_len)
{
    fputs(", \"plaintext_hex\": \"", stdout);
    out_hex(msg, msg_len);
    fputs("\", \"device\": ", stdout);
    out_str(hdr.dev, hdr.dev_len);
    printf(", \"direction\": \"%s\", \"type\": \"%s\", \"seq\": %lu, \"ts\": %lu",
           hdr.direction == IOTE_DOWN ? "down" : "up", type_name(hdr.type), (unsigned long)hdr.seq,
           (unsigned long)hdr.ts);
}

/* the end of an answer whose buffers were checked: a broken canary turns it into a failure */
static int canary_check(const request *rq)
{
    if (!canary_broken) {
        return 1;
    }
    canary_broken = 0;
    fputs("iote-runner: a canary behind a buffer was overwritten\n", stderr);
    answer_error(rq, "backend", "a canary behind a buffer was overwritten");
    return 0;
}

static void op_open(const request *rq, int many)
{
    int format = form_of(&rq->form);
    int rc = use_secret(&rq->secret_hex);
    uint8_t *msg = NULL;
    size_t msg_len = 0, cap = 0, i;
    if (format < 0) {
        answer_error(rq, "unsupported", "unknown form");
        return;
    }
    if (rc != IOTE_OK) {
        answer_rc(rq, rc);
        return;
    }
    if (!many) {
        if (!rq->envelope.set) {
            answer_error(rq, "bad-request", "no envelope");
            return;
        }
        rc = open_text(rq, format, &rq->envelope, &msg, &msg_len, &cap);
        if (rc == IOTE_OK) {
            /* the answer is printed after the buffers were checked */
            uint8_t *copy = (uint8_t *)malloc(msg_len + 1);
            if (copy == NULL) {
                exit(70);
            }
            memcpy(copy, msg, msg_len);
            release(msg, cap);
            if (canary_check(rq)) {
                out_begin(rq, 1);
                out_opened(copy, msg_len);
                out_end();
            }
            free(copy);
            return;
        }
        release(msg, cap);
        if (canary_check(rq)) {
            answer_rc(rq, rc);
        }
        return;
    }
    if (!rq->has_envelopes) {
        answer_error(rq, "bad-request", "no envelopes");
        return;
    }
    {
        iote_window window;
        iote_window_init(&window);
        out_begin(rq, 1);
        fputs(", \"results\": [", stdout);
        for (i = 0; i < rq->n_envelopes; i++) {
            rc = open_text(rq, format, &rq->envelopes[i], &msg, &msg_len, &cap);
            if (rc == IOTE_OK) {
                rc = iote_window_accept(&window, hdr.seq); /* SPEC.md section 6 step 7, after the MAC */
            }
            fputs(i ? ", {\"ok\": " : "{\"ok\": ", stdout);
            if (rc == IOTE_OK) {
                fputs("true", stdout);
                out_opened(msg, msg_len);
            } else {
                fputs("false", stdout);
                out_error_text(iote_error_name(rc), NULL);
            }
            putchar('}');
            release(msg, cap);
        }
        putchar(']');
        if (canary_broken) { /* the results are already out: say so in the answer */
            canary_broken = 0;
            fputs(", \"canary\": \"overwritten\"", stdout);
            fputs("iote-runner: a canary behind a buffer was overwritten\n", stderr);
        }
        out_end();
    }
}

static void op_seal(const request *rq)
{
    int format = form_of(&rq->form);
    int rc = use_secret(&rq->secret_hex);
    iote_fields f;
    uint8_t iv[IOTE_IV_LEN];
    uint8_t *msg = NULL, *out;
    size_t msg_len = 0, want, out_len = 0;
    if (format < 0) {
        answer_error(rq, "unsupported", "unknown form");
        return;
    }
    if (rc != IOTE_OK) {
        answer_rc(rq, rc);
        return;
    }
    if (!rq->device.set || rq->device.n > 255 || !rq->has_seq || !rq->has_ts || rq->seq < 0 ||
        rq->seq > 0xFFFFFFFFLL || rq->ts < 0 || rq->ts > 0xFFFFFFFFLL || !hex_bytes(&rq->plaintext_hex, &msg, &msg_len) ||
        (format != IOTE_FMT_LEAN && (rq->iv_hex.n != 2 * IOTE_IV_LEN || !from_hex(rq->iv_hex.s, iv, IOTE_IV_LEN)))) {
        release(msg, msg_len);
        answer_error(rq, "bad-request", "seal needs device, seq, ts, plaintext_hex and (not lean) a 16-byte iv_hex");
        return;
    }
    f.direction = is(&rq->direction, "down") ? IOTE_DOWN : IOTE_UP;
    f.type = is(&rq->type, "resync-request")    ? IOTE_TYPE_RESYNC_REQUEST
             : is(&rq->type, "resync-response") ? IOTE_TYPE_RESYNC_RESPONSE
                                                : IOTE_TYPE_DATA;
    f.dev = rq->device.s;
    f.dev_len = (uint8_t)rq->device.n;
    f.seq = (uint32_t)rq->seq;
    f.ts = (uint32_t)rq->ts;
    want = format == IOTE_FMT_LEAN ? iote_lean_sealed_len(&f, msg_len, format) : iote_sealed_len(&f, msg_len, format);
    out = guarded(want + 1); /* exactly the stated size, NUL included */
    rc = format == IOTE_FMT_LEAN ? iote_lean_seal(&lean_keys, &f, msg, msg_len, format, out, want + 1, &out_len)
                                 : iote_seal(&keys, &f, iv, msg, msg_len, format, (char *)out, want + 1, &out_len);
    if (rc == IOTE_OK && out_len != want) {
        fprintf(stderr, "iote-runner: sealed %lu bytes, iote_sealed_len said %lu\n", (unsigned long)out_len,
                (unsigned long)want);
        rc = IOTE_ERR_BACKEND;
    }
    release(msg, msg_len);
    {
        char *text = (char *)malloc(out_len + 1);
        if (text == NULL) {
            exit(70);
        }
        memcpy(text, out, rc == IOTE_OK ? out_len : 0);
        release(out, want + 1);
        if (canary_check(rq)) {
            if (rc == IOTE_OK) {
                out_begin(rq, 1);
                fputs(", \"envelope\": ", stdout);
                out_str(text, out_len);
                out_end();
            } else {
                answer_rc(rq, rc);
            }
        }
        free(text);
    }
}

static void op_cipher(const request *rq, int encrypt)
{
    uint8_t *key = NULL, *data = NULL, *work, *result;
    uint8_t iv[IOTE_IV_LEN];
    size_t key_len = 0, n = 0, cap, got = 0;
    int rc;
    if (!hex_bytes(&rq->key_hex, &key, &key_len) || rq->iv_hex.n != 2 * IOTE_IV_LEN ||
        !from_hex(rq->iv_hex.s, iv, IOTE_IV_LEN) || !hex_bytes(encrypt ? &rq->plaintext_hex : &rq->ct_hex, &data, &n)) {
        release(key, key_len);
        release(data, n);
        answer_error(rq, "bad-request", encrypt ? "cbc-encrypt needs key_hex, iv_hex (16 bytes), plaintext_hex"
                                                : "cbc-decrypt needs key_hex, iv_hex (16 bytes), ct_hex");
        return;
    }
    cap = encrypt ? (n / 16u + 1u) * 16u : n; /* exactly what the call needs */
    work = guarded(cap);
    if (n != 0) {
        memcpy(work, data, n);
    }
    rc = encrypt ? iote_cbc_pkcs7_encrypt(key, key_len, iv, work, n, cap, &got)
                 : iote_cbc_pkcs7_decrypt(key, key_len, iv, work, n, &got);
    memset(key, 0, key_len);
    release(key, key_len);
    release(data, n);
    result = (uint8_t *)malloc(got + 1);
    if (result == NULL) {
        exit(70);
    }
    memcpy(result, work, rc == IOTE_OK ? got : 0);
    release(work, cap);
    if (!canary_check(rq)) {
        /* answered */
    } else if (rc == IOTE_ERR_BAD_KEY && key_len == 24) {
        answer_error(rq, "unsupported", "no AES-192 in the C library (SPEC.md: 16- and 32-byte keys)");
    } else if (rc != IOTE_OK) {
        answer_rc(rq, rc);
    } else {
        out_begin(rq, 1);
        fputs(encrypt ? ", \"ct_hex\": \"" : ", \"plaintext_hex\": \"", stdout);
        out_hex(result, got);
        putchar('"');
        out_end();
    }
    free(result);
}

static void op_hello(const request *rq)
{
    out_begin(rq, 1);
    printf(", \"protocol\": 1, \"name\": \"iotenvelope-c (%s)\", \"version\": \"%s\", "
           "\"ops\": [\"open\", \"open-many\", \"seal\", \"cbc-decrypt\", \"cbc-encrypt\"], "
           "\"forms\": [\"compact\"%s%s], \"profiles\": []",
           iote_be_name(), IOTE_VERSION_STRING, IOTE_WITH_JSON ? ", \"json\"" : "", IOTE_WITH_LEAN ? ", \"lean\"" : "");
    out_end();
}

/* one request per line until end of input */
static int protocol_loop(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    request rq;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len == 0 || (len == 1 && line[0] == '\n')) {
            continue;
        }
        if (!parse_request(line, (size_t)len, &rq)) {
            answer_error(&rq, "bad-request", "not a flat JSON object");
            free_request(&rq);
            continue;
        }
        if (is(&rq.op, "hello")) {
            op_hello(&rq);
        } else if (is(&rq.op, "open")) {
            op_open(&rq, 0);
        } else if (is(&rq.op, "open-many")) {
            op_open(&rq, 1);
        } else if (is(&rq.op, "seal")) {
            op_seal(&rq);
        } else if (is(&rq.op, "cbc-decrypt")) {
            op_cipher(&rq, 0);
        } else if (is(&rq.op, "cbc-encrypt")) {
            op_cipher(&rq, 1);
        } else {
            answer_error(&rq, "unsupported", "unknown op");
        }
        free_request(&rq);
    }
    free(line);
    free(cached_secret);
    if (keys_rc == IOTE_OK) {
        iote_keys_wipe(&keys);
        iote_lean_keys_wipe(&lean_keys);
    }
    return 0;
}

/* ---- host command line ------------------------------------------------------------------------------- */

static const char *USAGE =
    "usage: iote-runner protocol                     (verify runner protocol v1 on stdin/stdout)\n"
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
    const char *cmd = argc > 1 ? argv[1] : "protocol";
    if (strcmp(cmd, "protocol") == 0) {
        return protocol_loop();
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
