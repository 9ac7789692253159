/* Backend for AVR and other small MCUs: this project's own SHA-256 (iote_sha256.c, its rounds in assembly on
 * AVR) and AES from tiny-AES-c or, with IOTE_OWN_AES (the default on AVR, iote_aes.h), this project's own
 * iote_aes.c. tiny-AES-c fixes the key size at compile time, so tinyaes128.c and tinyaes256.c each compile its
 * aes.c once under their own names; IOTE_WITH_AES256=0 leaves the AES-256 copy out. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_TINYAES)
#include "iotenvelope.h"
#include "iote_aes.h"

#if !IOTE_OWN_AES
int iote_tinyaes128_cbc(int decrypt, const uint8_t *key, const uint8_t iv[16], uint8_t *data, size_t len);
#if IOTE_WITH_AES256
int iote_tinyaes256_cbc(int decrypt, const uint8_t *key, const uint8_t iv[16], uint8_t *data, size_t len);
#endif
#endif

int iote_be_sha256_init(iote_be_sha256_ctx *ctx)
{
    iote_sha256_init(ctx);
    return 0;
}

void iote_be_sha256_update(iote_be_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    iote_sha256_update(ctx, data, len);
}

int iote_be_sha256_final(iote_be_sha256_ctx *ctx, uint8_t out[32])
{
    iote_sha256_final(ctx, out);
    return 0;
}

void iote_be_sha256_save(const iote_be_sha256_ctx *ctx, uint8_t state[32])
{
    iote_sha256_save(ctx, state);
}

int iote_be_sha256_resume(iote_be_sha256_ctx *ctx, const uint8_t state[32])
{
    iote_sha256_resume(ctx, state);
    return 0;
}

int iote_be_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data,
                    size_t len)
{
#if IOTE_OWN_AES
    return iote_aes_cbc(decrypt, key, key_len, iv, data, len);
#else
    if (len % 16 != 0) {
        return -1;
    }
    if (key_len == 16) {
        return iote_tinyaes128_cbc(decrypt, key, iv, data, len);
    }
#if IOTE_WITH_AES256
    if (key_len == 32) {
        return iote_tinyaes256_cbc(decrypt, key, iv, data, len);
    }
#endif
    return -1;
#endif
}

const char *iote_be_name(void)
{
#if IOTE_OWN_AES
    return "iote_aes + iote_sha256";
#else
    return "tiny-AES-c + iote_sha256";
#endif
}
#endif
