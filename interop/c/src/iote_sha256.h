/* This project's own small SHA-256 (FIPS 180-4), used by the tiny-AES-c backend where no packaged SHA-256
 * fits (AVR). A 16-word rolling message schedule keeps the stack small (about 170 bytes in total). */
#ifndef IOTE_SHA256_H
#define IOTE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint32_t blocks; /* whole 64-byte blocks compressed so far (messages below 2^38 bytes) */
    uint8_t block[64];
    uint8_t fill;
} iote_sha256_ctx;

void iote_sha256_init(iote_sha256_ctx *c);
void iote_sha256_update(iote_sha256_ctx *c, const uint8_t *data, size_t len);
void iote_sha256_final(iote_sha256_ctx *c, uint8_t out[32]);
/* chaining state after exactly 64 bytes, and a context that continues from such a state */
void iote_sha256_save(const iote_sha256_ctx *c, uint8_t state[32]);
void iote_sha256_resume(iote_sha256_ctx *c, const uint8_t state[32]);

#endif
