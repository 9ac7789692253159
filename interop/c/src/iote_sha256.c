/* SHA-256 (FIPS 180-4) written for small 8-bit MCUs, 16-word rolling schedule. On AVR the 64 rounds are
 * iote_sha256_avr.S (assembly, round constants in flash); elsewhere the portable C below. */
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

#if defined(__AVR__)
/* iote_sha256_avr.S: w = the block (used as the schedule), v[8..15] = a..h in and the working variables out */
void iote_sha256_rounds_avr(uint32_t *w, uint32_t v[16]);

/* p is always the context's own block buffer, whose bytes are not needed afterwards: the assembly uses its 64
 * bytes as the message schedule (64 bytes less stack). */
static void compress(uint32_t h[8], uint8_t *p)
{
    uint32_t v[16];
    uint8_t i;
    memcpy(v + 8, h, 8 * sizeof h[0]);
    iote_sha256_rounds_avr((uint32_t *)(void *)p, v);
    for (i = 0; i < 8; i++) {
        h[i] += v[8 + i];
    }
    memset(v, 0, sizeof v);
}
#else
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

/*
 * Rotations are written as byte moves (8, 16, 24: free on an 8-bit CPU) plus 1-bit steps whose carried bit is
 * moved as a byte, because avr-gcc turns a 32-bit shift by any other constant into a bit loop (that made one
 * block cost 186k cycles instead of ~30k). Other compilers fold these back into single rotate instructions.
 */
#define ROR8(x) (((x) >> 8) | ((x) << 24))
#define ROR16(x) (((x) >> 16) | ((x) << 16))
#define ROR24(x) (((x) >> 24) | ((x) << 8))
#define ROR1(x) (((x) >> 1) | ((x) << 31))
#define ROL1(x) (((x) << 1) | ((x) >> 31))

static uint32_t ror2(uint32_t x)
{
    x = ROR1(x);
    return ROR1(x);
}

static uint32_t ror3(uint32_t x)
{
    x = ROR1(x);
    x = ROR1(x);
    return ROR1(x);
}

static uint32_t rol2(uint32_t x)
{
    x = ROL1(x);
    return ROL1(x);
}

static uint32_t rol3(uint32_t x)
{
    x = ROL1(x);
    x = ROL1(x);
    return ROL1(x);
}

/* FIPS 180-4 functions: rotr(x, n) for n = 8k +/- small */
static uint32_t big_sigma0(uint32_t a) /* rotr 2 ^ rotr 13 ^ rotr 22 */
{
    return ror2(a) ^ rol3(ROR16(a)) ^ rol2(ROR24(a));
}

static uint32_t big_sigma1(uint32_t e) /* rotr 6 ^ rotr 11 ^ rotr 25 */
{
    uint32_t t = ROR8(e);
    return rol2(t) ^ ror3(t) ^ ROR1(ROR24(e));
}

static uint32_t small_sigma0(uint32_t x) /* rotr 7 ^ rotr 18 ^ shr 3 */
{
    uint32_t t = ROR8(x);
    return ROL1(t) ^ ror2(ROR16(x)) ^ (x >> 3);
}

static uint32_t small_sigma1(uint32_t x) /* rotr 17 ^ rotr 19 ^ shr 10 */
{
    uint32_t t = ROR16(x);
    return ROR1(t) ^ ror3(t) ^ ((x >> 8) >> 2);
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
            wi = w[i & 15] += small_sigma0(w[(i + 1) & 15]) + w[(i + 9) & 15] + small_sigma1(w[(i + 14) & 15]);
        }
        t1 = s[7] + big_sigma1(s[4]) + ((s[4] & s[5]) ^ (~s[4] & s[6])) + K_READ(i) + wi;
        t2 = big_sigma0(s[0]) + ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        memmove(s + 1, s, 7 * sizeof s[0]);
        s[4] += t1;
        s[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) {
        h[i] += s[i];
    }
    memset(w, 0, sizeof w);
    memset(s, 0, sizeof s);
}

#endif

static const uint32_t H0[8] K_ATTR = {0x6a09e667ul, 0xbb67ae85ul, 0x3c6ef372ul, 0xa54ff53aul,
                                      0x510e527ful, 0x9b05688cul, 0x1f83d9abul, 0x5be0cd19ul};

void iote_sha256_init(iote_sha256_ctx *c)
{
    memset(c, 0, sizeof *c);
#if defined(__AVR__)
    memcpy_P(c->h, H0, sizeof c->h);
#else
    memcpy(c->h, H0, sizeof c->h);
#endif
}

void iote_sha256_update(iote_sha256_ctx *c, const uint8_t *data, size_t len)
{
    while (len > 0) {
        uint8_t take = (uint8_t)(64u - c->fill);
        if (take > len) {
            take = (uint8_t)len;
        }
        memcpy(c->block + c->fill, data, take);
        c->fill = (uint8_t)(c->fill + take);
        data += take;
        len -= take;
        if (c->fill == 64u) {
            compress(c->h, c->block);
            c->fill = 0;
            c->blocks++;
        }
    }
}

void iote_sha256_save(const iote_sha256_ctx *c, uint8_t state[32])
{
    uint8_t i;
    for (i = 0; i < 32; i += 4) { /* big-endian words; shifts by 8 are byte moves on an 8-bit CPU */
        uint32_t v = c->h[i >> 2];
        state[i + 3] = (uint8_t)v;
        v >>= 8;
        state[i + 2] = (uint8_t)v;
        v >>= 8;
        state[i + 1] = (uint8_t)v;
        state[i] = (uint8_t)(v >> 8);
    }
}

void iote_sha256_resume(iote_sha256_ctx *c, const uint8_t state[32])
{
    uint8_t i;
    memset(c, 0, sizeof *c);
    for (i = 0; i < 32; i++) {
        c->h[i >> 2] = (c->h[i >> 2] << 8) | state[i];
    }
    c->blocks = 1;
}

void iote_sha256_final(iote_sha256_ctx *c, uint8_t out[32])
{
    /* the message length in bits as a 64-bit big-endian number: blocks * 512 + fill * 8 */
    uint32_t blocks = c->blocks;
    uint8_t fill = c->fill;
    uint8_t i;
    c->block[c->fill++] = 0x80;
    if (c->fill > 56u) {
        memset(c->block + c->fill, 0, 64u - c->fill);
        compress(c->h, c->block);
        c->fill = 0;
    }
    memset(c->block + c->fill, 0, 58u - c->fill); /* up to the length's two top bytes, always 0 here */
    /* blocks * 512 + fill * 8, byte by byte: x = blocks << 1 is that number shifted right by 8 (fill * 8 only
     * reaches into the lowest byte and one bit of the next), so every byte is a byte move */
    {
        uint32_t x = blocks << 1;
        c->block[63] = (uint8_t)(fill << 3);
        c->block[62] = (uint8_t)((uint8_t)x | (uint8_t)(fill >> 5));
        for (i = 61; i >= 59; i--) {
            x >>= 8;
            c->block[i] = (uint8_t)x;
        }
        c->block[58] = (uint8_t)((uint8_t)(blocks >> 24) >> 7);
    }
    compress(c->h, c->block);
    iote_sha256_save(c, out);
    memset(c, 0, sizeof *c);
}
