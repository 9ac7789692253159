/* SHA-256 (FIPS 180-4) written for small 8-bit MCUs: round constants in flash on AVR, 16-word schedule. */
#include "iote_sha256.h"

#include <string.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define K_READ(i) pgm_read_dword(&K[i])
#define K_ATTR PROGMEM
#else
#define K_READ(i) K[i]
#define K_ATTR
#endif

static const uint32_t K[64] K_ATTR = {
    0x428a2f98ul, 0x71374491ul, 0xb5c0fbcful, 0xe9b5dba5ul, 0x3956c25bul, 0x59f111f1ul, 0x923f82a4ul,
    0xab1c5ed5ul, 0xd807aa98ul, 0x12835b01ul, 0x243185beul, 0x550c7dc3ul, 0x72be5d74ul, 0x80deb1feul,
    0x9bdc06a7ul, 0xc19bf174ul, 0xe49b69c1ul, 0xefbe4786ul, 0x0fc19dc6ul, 0x240ca1ccul, 0x2de92c6ful,
    0x4a7484aaul, 0x5cb0a9dcul, 0x76f988daul, 0x983e5152ul, 0xa831c66dul, 0xb00327c8ul, 0xbf597fc7ul,
    0xc6e00bf3ul, 0xd5a79147ul, 0x06ca6351ul, 0x14292967ul, 0x27b70a85ul, 0x2e1b2138ul, 0x4d2c6dfcul,
    0x53380d13ul, 0x650a7354ul, 0x766a0abbul, 0x81c2c92eul, 0x92722c85ul, 0xa2bfe8a1ul, 0xa81a664bul,
    0xc24b8b70ul, 0xc76c51a3ul, 0xd192e819ul, 0xd6990624ul, 0xf40e3585ul, 0x106aa070ul, 0x19a4c116ul,
    0x1e376c08ul, 0x2748774cul, 0x34b0bcb5ul, 0x391c0cb3ul, 0x4ed8aa4aul, 0x5b9cca4ful, 0x682e6ff3ul,
    0x748f82eeul, 0x78a5636ful, 0x84c87814ul, 0x8cc70208ul, 0x90befffaul, 0xa4506cebul, 0xbef9a3f7ul,
    0xc67178f2ul};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32u - n));
}

static void compress(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[16];
    uint32_t s[8];
    unsigned i;
    for (i = 0; i < 16; i++) {
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) | ((uint32_t)p[4 * i + 2] << 8) |
               p[4 * i + 3];
    }
    memcpy(s, h, sizeof s);
    for (i = 0; i < 64; i++) {
        uint32_t t1;
        uint32_t t2;
        uint32_t wi;
        if (i < 16) {
            wi = w[i];
        } else {
            uint32_t a = w[(i + 1) & 15];
            uint32_t b = w[(i + 14) & 15];
            uint32_t s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >> 3);
            uint32_t s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >> 10);
            wi = w[i & 15] += s0 + w[(i + 9) & 15] + s1;
        }
        t1 = s[7] + (rotr(s[4], 6) ^ rotr(s[4], 11) ^ rotr(s[4], 25)) + ((s[4] & s[5]) ^ (~s[4] & s[6])) +
             K_READ(i) + wi;
        t2 = (rotr(s[0], 2) ^ rotr(s[0], 13) ^ rotr(s[0], 22)) + ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        s[7] = s[6];
        s[6] = s[5];
        s[5] = s[4];
        s[4] = s[3] + t1;
        s[3] = s[2];
        s[2] = s[1];
        s[1] = s[0];
        s[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) {
        h[i] += s[i];
    }
}

static const uint32_t H0[8] K_ATTR = {0x6a09e667ul, 0xbb67ae85ul, 0x3c6ef372ul, 0xa54ff53aul,
                                      0x510e527ful, 0x9b05688cul, 0x1f83d9abul, 0x5be0cd19ul};

void iote_sha256_init(iote_sha256_ctx *c)
{
    unsigned i;
    for (i = 0; i < 8; i++) {
#if defined(__AVR__)
        c->h[i] = pgm_read_dword(&H0[i]);
#else
        c->h[i] = H0[i];
#endif
    }
    c->bits_lo = 0;
    c->bits_hi = 0;
    c->fill = 0;
}

void iote_sha256_update(iote_sha256_ctx *c, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t take = 64u - c->fill;
        if (take > len) {
            take = len;
        }
        memcpy(c->block + c->fill, data, take);
        c->fill = (uint8_t)(c->fill + take);
        data += take;
        len -= take;
        c->bits_lo += (uint32_t)take;
        if (c->bits_lo < (uint32_t)take) {
            c->bits_hi++;
        }
        if (c->fill == 64u) {
            compress(c->h, c->block);
            c->fill = 0;
        }
    }
}

void iote_sha256_final(iote_sha256_ctx *c, uint8_t out[32])
{
    uint32_t hi = (c->bits_hi << 3) | (c->bits_lo >> 29);
    uint32_t lo = c->bits_lo << 3;
    unsigned i;
    c->block[c->fill++] = 0x80;
    if (c->fill > 56u) {
        memset(c->block + c->fill, 0, 64u - c->fill);
        compress(c->h, c->block);
        c->fill = 0;
    }
    memset(c->block + c->fill, 0, 56u - c->fill);
    for (i = 0; i < 4; i++) {
        c->block[56 + i] = (uint8_t)(hi >> (24 - 8 * i));
        c->block[60 + i] = (uint8_t)(lo >> (24 - 8 * i));
    }
    compress(c->h, c->block);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
    memset(c, 0, sizeof *c);
}
