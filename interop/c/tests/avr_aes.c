/*
 * AVR firmware that exercises iote_aes_cbc (on AVR: the assembly in src/iote_aes_avr.S) for tests/test_c.py,
 * run in simavr (tools/avrsim.c). It prints what it did on the UART and the test checks every line against
 * Python's AES (the device has no second AES to compare with):
 *
 *   cbc <key_len> <len> <key> <iv> <plaintext> <rc> <ciphertext> <iv after> <rc> <decrypted>
 *       CBC both ways over pseudo-random key, IV and data (xorshift32, fixed seed); decryption is asked for
 *       with decrypt = 0x100, so a nonzero high byte alone must select it
 *   bad <decrypt> <key_len> <len> <rc> <data unchanged 0/1>    refused sizes: rc -1, nothing written
 *   alias <buffer before> <rc> <buffer after>    key = buffer[0..15], iv = buffer[16..31], data = the whole
 *       32-byte buffer, encrypted in place: key and IV must be read before the data is overwritten
 *   stack <bytes below the caller's SP, as they are after an AES-256 (or, without it, AES-128) call>
 *       painted with 0x5A before the call: the test finds the frame wiped and measures the stack used
 *   done
 * Hex throughout, one line each. Fixed seed and keys: test data only.
 */
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
#include <stdint.h>
#include <string.h>

#include "iote_aes.h"
#include "iotenvelope.h"

#define DUMP 320 /* bytes below the caller's stack pointer that the "stack" line shows */

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

static void puthex(const uint8_t *p, uint16_t n)
{
    static const char digits[] = "0123456789abcdef";
    putc_uart(' ');
    if (n == 0) {
        putc_uart('-');
    }
    while (n--) {
        putc_uart(digits[*p >> 4]);
        putc_uart(digits[*p & 15]);
        p++;
    }
}

static void putnum(int v)
{
    uint8_t b[2];
    b[0] = (uint8_t)((unsigned)v >> 8);
    b[1] = (uint8_t)v;
    puthex(b, 2);
}

static uint32_t rng = 0x2545f491u;
static void fill(uint8_t *p, uint16_t n)
{
    while (n--) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        *p++ = (uint8_t)rng;
    }
}

static uint8_t key[32];
static uint8_t iv[16];
static uint8_t iv_before[16];
static uint8_t data[160];
static uint8_t copy[160];

static void cbc_case(uint8_t key_len, uint16_t len)
{
    int rc;
    fill(key, key_len);
    fill(iv, 16);
    fill(data, len);
    memcpy(iv_before, iv, 16);
    puts_uart("cbc");
    putnum(key_len);
    putnum((int)len);
    puthex(key, key_len);
    puthex(iv, 16);
    puthex(data, len);
    rc = iote_aes_cbc(0, key, key_len, iv, data, len);
    putnum(rc);
    puthex(data, len);
    puthex(iv, 16);
    memcpy(iv, iv_before, 16);
    rc = iote_aes_cbc(0x100, key, key_len, iv, data, len);
    putnum(rc);
    puthex(data, len);
    putc_uart('\n');
}

static void bad_case(int decrypt, uint16_t key_len, uint16_t len)
{
    int rc;
    fill(key, 32);
    fill(data, 48);
    memcpy(copy, data, 48);
    rc = iote_aes_cbc(decrypt, key, key_len, iv, data, len);
    puts_uart("bad");
    putnum(decrypt);
    putnum(key_len);
    putnum((int)len);
    putnum(rc);
    putnum(memcmp(copy, data, 48) == 0);
    putc_uart('\n');
}

int main(void)
{
    static const uint8_t key_lens[] = {16, 32};
    static const uint16_t lens[] = {0, 16, 32, 64, 160};
    uint8_t i, j;
    uint8_t *top;
    volatile uint8_t *p;
    int rc;

    UBRR0 = 0;
    UCSR0A = (uint8_t)(1u << U2X0);
    UCSR0B = (uint8_t)(1u << TXEN0);
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00));

    for (i = 0; i < sizeof key_lens; i++) {
        for (j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            cbc_case(key_lens[i], lens[j]);
        }
    }
    bad_case(0, 16, 15);
    bad_case(1, 16, 17);
    bad_case(0, 16, 8);
    bad_case(0, 24, 16);
    bad_case(1, 24, 16);
    bad_case(0, 0, 16);
    bad_case(0, 15, 16);
    bad_case(0, 33, 16);
    bad_case(0, 48, 16);
    bad_case(1, 16 + 256, 16);

    fill(data, 32);
    puts_uart("alias");
    puthex(data, 32);
    rc = iote_aes_cbc(0, data, 16, data + 16, data, 32);
    putnum(rc);
    puthex(data, 32);
    putc_uart('\n');

    /* the stack after a call: paint DUMP bytes below the stack pointer, call, show them */
    fill(key, 32);
    fill(iv, 16);
    fill(data, 32);
    top = (uint8_t *)SP;
    for (p = top - DUMP; p < top; p++) {
        *p = 0x5a;
    }
    rc = iote_aes_cbc(1, key, IOTE_WITH_AES256 ? 32 : 16, iv, data, 32);
    puts_uart("stack");
    putnum(rc);
    puthex(key, IOTE_WITH_AES256 ? 32 : 16);
    puthex(top - DUMP, DUMP);
    putc_uart('\n');
    puts_uart("done\n");

    cli();
    sleep_mode();
    return 0;
}
