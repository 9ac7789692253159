/*
 * AVR benchmark firmware for bench/avr.py, run in simavr (tools/avrsim.c) at 16 MHz.
 *
 * Derives the keys, seals a 32-byte reading (compact form), opens it again, derives the lean keys and seals the
 * reading in the lean form (SPEC.md section 5.3, raw frame, when IOTE_WITH_LEAN), and marks each step by writing
 * GPIOR0 (avrsim prints the cycle count of every write). Around each step it paints the free RAM and then
 * finds the deepest stack byte touched, so the stack each operation needs is measured, not estimated.
 * Output on the UART: one "stack <op> <bytes>" line per operation, "lean <b64url of the raw lean frame>", and
 * "ok <compact envelope>", so the bench can check both envelopes with the Python implementation.
 *
 * BENCH_BASELINE builds the same skeleton without calling the library: the difference in flash and static
 * RAM between the two ELF files is what envelope + crypto cost.
 * Fixed secret and IV: benchmark only. A device takes its IV from a CSPRNG (SPEC.md section 7).
 */
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>

#include "iote_backend.h"
#include "iotenvelope.h"

static void putc_uart(char c)
{
    while (!(UCSR0A & (1u << UDRE0))) {
    }
    UDR0 = (uint8_t)c;
}

static void puts_uart(const char *s)
{
    while (*s) {
        putc_uart(*s++);
    }
}

static void putu_uart(uint16_t v)
{
    char tmp[6];
    int i = 5;
    tmp[i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    puts_uart(tmp + i);
}

extern uint8_t __heap_start;
#define PAINT 0x5A

/* paint from the end of the static data up to just below the caller's stack frame; returns that top */
static uint8_t *paint(void)
{
    uint8_t *p = &__heap_start;
    uint8_t *top = (uint8_t *)SP - 32;
    while (p < top) {
        *p++ = PAINT;
    }
    return top;
}

static uint16_t used_below(const uint8_t *top)
{
    const uint8_t *p = &__heap_start;
    while (p < top && *p == PAINT) {
        p++;
    }
    return (uint16_t)(top - p + 32);
}

static void report(const char *op, uint16_t bytes)
{
    puts_uart("stack ");
    puts_uart(op);
    putc_uart(' ');
    putu_uart(bytes);
    putc_uart('\n');
}

#define MARK(n) (GPIOR0 = (n))

int main(void)
{
    static const uint8_t secret[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                       0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    static const uint8_t iv[16] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                   0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};
    static const char reading[] = "{\"co2\":1223,\"t\":21.45,\"rh\":48.5}"; /* 32 bytes */
    static char text[160];
    static uint8_t work[160];
    uint8_t *top;

    UBRR0 = 0;
    UCSR0A = (uint8_t)(1u << U2X0);
    UCSR0B = (uint8_t)(1u << TXEN0);
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00));

#if defined(BENCH_PRIMS)
    { /* the primitives alone: one SHA-256 block (update of 64 bytes), AES-128-CBC over 64 bytes each way
       * (key expansion included, as iote_be_aes_cbc does it per call) */
        static uint8_t data[64];
        iote_be_sha256_ctx c;
        (void)reading;
        (void)work;
        (void)paint;
        (void)used_below;
        (void)report;
        (void)top;
        iote_be_sha256_init(&c);
        MARK(11);
        iote_be_sha256_update(&c, data, 64);
        MARK(12);
        iote_be_sha256_final(&c, (uint8_t *)text);
        MARK(13);
        iote_be_aes_cbc(0, secret, 16, iv, data, 64);
        MARK(14);
        iote_be_aes_cbc(1, secret, 16, iv, data, 64);
        MARK(15);
        puts_uart("prims\n");
    }
#elif defined(BENCH_BASELINE)
    (void)secret;
    (void)iv;
    (void)work;
    top = paint();
    MARK(1);
    memcpy(text, reading, sizeof reading);
    MARK(2);
    MARK(3);
    MARK(4);
    puts_uart(text);
    putc_uart('\n');
    report("keys", used_below(top));
#else
    {
        static iote_keys keys;
        static iote_header hdr;
        iote_fields f;
        size_t len = 0, n = 0;
        int rc;
        int opened;

        f.direction = IOTE_UP;
        f.type = IOTE_TYPE_DATA;
        f.dev = "sensor-01";
        f.dev_len = 9;
        f.seq = 42;
        f.ts = 1763900000ul;

        top = paint();
        MARK(1);
        rc = iote_keys_init(&keys, secret, sizeof secret);
        MARK(2);
        report("keys", used_below(top));

        top = paint();
        MARK(3);
        rc |= iote_seal(&keys, &f, iv, (const uint8_t *)reading, sizeof reading - 1, IOTE_FMT_COMPACT, text,
                        sizeof text, &len);
        MARK(4);
        report("seal", used_below(top));

        memcpy(work, text, len);
        top = paint();
        MARK(5);
        rc |= iote_open(&keys, IOTE_UP, (const char *)work, len, IOTE_FMT_COMPACT, work, sizeof work, &hdr, &n);
        MARK(6);
        report("open", used_below(top));

        opened = rc == 0 && n == sizeof reading - 1 && memcmp(work, reading, n) == 0;
#if IOTE_WITH_LEAN
        {
            static iote_lean_keys lkeys;
            static uint8_t frame[80]; /* 9 + 48 + 8 = 65 bytes for the 32-byte reading with ts */
            size_t flen = 0;
            top = paint();
            MARK(7);
            rc |= iote_lean_keys_init(&lkeys, secret, sizeof secret);
            MARK(8);
            report("lean_keys", used_below(top));
            top = paint();
            MARK(9);
            rc |= iote_lean_seal(&lkeys, &f, (const uint8_t *)reading, sizeof reading - 1, IOTE_FMT_LEAN_RAW, frame,
                                 sizeof frame, &flen);
            MARK(10);
            report("lean_seal", used_below(top));
            rc |= iote_b64url_encode(frame, flen, (char *)work, sizeof work - 1, &n);
            work[n] = 0;
            puts_uart("lean ");
            puts_uart((const char *)work);
            putc_uart('\n');
        }
#endif
        puts_uart(opened && rc == 0 ? "ok " : "FAILED ");
        puts_uart(text);
        putc_uart('\n');
    }
#endif
    while (!(UCSR0A & (1u << TXC0)) && !(UCSR0A & (1u << UDRE0))) {
    }
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
