/* Backend: BearSSL (the ESP8266 Arduino core ships it; Debian libbearssl-dev). Uses the constant-time
 * "ct" AES implementation. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_BEARSSL)
#include <string.h>

/* <bearssl/bearssl.h> (the path both the ESP8266 core and Debian use) comes through iote_backend.h */

int iote_be_sha256_init(iote_be_sha256_ctx *ctx)
{
    br_sha256_init(ctx);
    return 0;
}

void iote_be_sha256_update(iote_be_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    br_sha256_update(ctx, data, len);
}

int iote_be_sha256_final(iote_be_sha256_ctx *ctx, uint8_t out[32])
{
    br_sha256_out(ctx, out);
    memset(ctx, 0, sizeof *ctx);
    return 0;
}

void iote_be_sha256_save(const iote_be_sha256_ctx *ctx, uint8_t state[32])
{
    (void)br_sha256_state(ctx, state);
}

int iote_be_sha256_resume(iote_be_sha256_ctx *ctx, const uint8_t state[32])
{
    br_sha256_init(ctx);
    br_sha256_set_state(ctx, state, 64);
    return 0;
}

int iote_be_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data,
                    size_t len)
{
    unsigned char chain[16]; /* br_aes_ct_cbc*_run update the IV they are given */
    if ((key_len != 16 && key_len != 32) || len % 16 != 0) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    memcpy(chain, iv, sizeof chain);
    if (decrypt) {
        br_aes_ct_cbcdec_keys ctx;
        br_aes_ct_cbcdec_init(&ctx, key, key_len);
        br_aes_ct_cbcdec_run(&ctx, chain, data, len);
    } else {
        br_aes_ct_cbcenc_keys ctx;
        br_aes_ct_cbcenc_init(&ctx, key, key_len);
        br_aes_ct_cbcenc_run(&ctx, chain, data, len);
    }
    return 0;
}

const char *iote_be_name(void)
{
    return "bearssl";
}
#endif
