/* Backend: OpenSSL libcrypto (EVP). For Linux gateways and host tests. OpenSSL allocates its EVP contexts
 * on the heap internally; iotenvelope itself does not. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_OPENSSL)
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

int iote_be_sha256(const iote_span *parts, size_t count, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    size_t i;
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (i = 0; ok && i < count; i++) {
        ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
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
