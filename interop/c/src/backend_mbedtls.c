/* Backend: mbedTLS (ESP32 / ESP-IDF ship it; Debian libmbedtls-dev). Works with mbedTLS 2.x and 3.x. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_MBEDTLS)
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_MAJOR >= 3
#define SHA_START(c) mbedtls_sha256_starts((c), 0)
#define SHA_UPDATE(c, p, n) mbedtls_sha256_update((c), (p), (n))
#define SHA_FINISH(c, o) mbedtls_sha256_finish((c), (o))
#else
#define SHA_START(c) mbedtls_sha256_starts_ret((c), 0)
#define SHA_UPDATE(c, p, n) mbedtls_sha256_update_ret((c), (p), (n))
#define SHA_FINISH(c, o) mbedtls_sha256_finish_ret((c), (o))
#endif

int iote_be_sha256_init(iote_be_sha256_ctx *ctx)
{
    mbedtls_sha256_init(&ctx->c);
    ctx->failed = SHA_START(&ctx->c) != 0;
    return ctx->failed ? -1 : 0;
}

void iote_be_sha256_update(iote_be_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    if (!ctx->failed && SHA_UPDATE(&ctx->c, data, len) != 0) {
        ctx->failed = 1;
    }
}

int iote_be_sha256_final(iote_be_sha256_ctx *ctx, uint8_t out[32])
{
    int ok = !ctx->failed && SHA_FINISH(&ctx->c, out) == 0;
    mbedtls_sha256_free(&ctx->c);
    return ok ? 0 : -1;
}

int iote_be_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data,
                    size_t len)
{
    mbedtls_aes_context ctx;
    unsigned char chain[16]; /* mbedtls_aes_crypt_cbc updates the IV it is given */
    int rc;
    if ((key_len != 16 && key_len != 32) || len % 16 != 0) {
        return -1;
    }
    memcpy(chain, iv, sizeof chain);
    mbedtls_aes_init(&ctx);
    rc = decrypt ? mbedtls_aes_setkey_dec(&ctx, key, (unsigned)(key_len * 8))
                 : mbedtls_aes_setkey_enc(&ctx, key, (unsigned)(key_len * 8));
    if (rc == 0 && len != 0) {
        rc = mbedtls_aes_crypt_cbc(&ctx, decrypt ? MBEDTLS_AES_DECRYPT : MBEDTLS_AES_ENCRYPT, len, chain, data, data);
    }
    mbedtls_aes_free(&ctx);
    return rc == 0 ? 0 : -1;
}

const char *iote_be_name(void)
{
    return "mbedtls " MBEDTLS_VERSION_STRING;
}
#endif
