/* Backend: OpenSSL libcrypto (EVP). For Linux gateways and host tests. OpenSSL allocates its EVP contexts
 * on the heap internally; iotenvelope itself does not. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_OPENSSL)
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

int iote_be_sha256_init(iote_be_sha256_ctx *ctx)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ctx->md = md;
    ctx->failed = md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1;
    return ctx->failed ? -1 : 0;
}

void iote_be_sha256_update(iote_be_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    if (!ctx->failed && len != 0 && EVP_DigestUpdate((EVP_MD_CTX *)ctx->md, data, len) != 1) {
        ctx->failed = 1;
    }
}

int iote_be_sha256_final(iote_be_sha256_ctx *ctx, uint8_t out[32])
{
    unsigned int n = 0;
    int ok = !ctx->failed && EVP_DigestFinal_ex((EVP_MD_CTX *)ctx->md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx->md);
    ctx->md = NULL;
    return ok ? 0 : -1;
}

int iote_be_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data,
                    size_t len)
{
    const EVP_CIPHER *cipher = key_len == 16 ? EVP_aes_128_cbc() : key_len == 32 ? EVP_aes_256_cbc() : NULL;
    EVP_CIPHER_CTX *ctx;
    int outl = 0;
    int ok;
    if (cipher == NULL || len % 16 != 0 || len > (size_t)INT_MAX) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    ctx = EVP_CIPHER_CTX_new();
    ok = ctx != NULL && EVP_CipherInit_ex(ctx, cipher, NULL, key, iv, decrypt ? 0 : 1) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_CipherUpdate(ctx, data, &outl, data, (int)len) == 1 &&
         (size_t)outl == len;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

const char *iote_be_name(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}
#endif
