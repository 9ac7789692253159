/* Backend: OpenSSL libcrypto (EVP). For Linux gateways and host tests. OpenSSL allocates its EVP contexts
 * on the heap internally; iotenvelope itself does not.
 *
 * Per key (IOTE_BE_KEYCTX, iote_keys.be) it keeps the contexts an envelope needs, built once by iote_keys_init:
 * an EVP_CIPHER_CTX per direction holding the AES key schedule (each call only sets the IV), and the two
 * SHA-256 states after HMAC's key blocks (each tag copies them into a work context instead of fetching SHA-256,
 * allocating a context and hashing the key blocks again). Each of the three working contexts is taken with an
 * atomic test-and-set flag for the length of one call; a thread that finds it taken uses one-shot contexts, as
 * every call did before, so sharing one iote_keys between threads is safe and never blocks. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_OPENSSL)
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

typedef struct {
    EVP_CIPHER_CTX *aes[2];  /* [0] encrypts, [1] decrypts; keyed once */
    EVP_MD_CTX *hmac[2];     /* SHA-256 after the inner (K_mac ^ ipad) / outer (K_mac ^ opad) block */
    EVP_MD_CTX *work;        /* where a borrowed hash runs */
    unsigned char busy_aes[2];
    unsigned char busy_md;
} key_state;

#if defined(__GNUC__) || defined(__clang__)
static int take(unsigned char *flag)
{
    return !__atomic_test_and_set(flag, __ATOMIC_ACQUIRE);
}

static void give(unsigned char *flag)
{
    __atomic_clear(flag, __ATOMIC_RELEASE);
}
#else
/* no atomic test-and-set known to this compiler: never borrow, always one-shot contexts */
static int take(unsigned char *flag)
{
    (void)flag;
    return 0;
}

static void give(unsigned char *flag)
{
    (void)flag;
}
#endif

int iote_be_sha256_init(iote_be_sha256_ctx *ctx)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ctx->md = md;
    ctx->owner = NULL;
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
    if (ctx->owner != NULL) {
        give(&((key_state *)ctx->owner)->busy_md);
    } else {
        EVP_MD_CTX_free((EVP_MD_CTX *)ctx->md);
    }
    ctx->md = NULL;
    ctx->owner = NULL;
    return ok ? 0 : -1;
}

void iote_be_keys_free(void **be)
{
    key_state *ks = (key_state *)*be;
    int i;
    if (ks == NULL) {
        return;
    }
    for (i = 0; i < 2; i++) {
        EVP_CIPHER_CTX_free(ks->aes[i]); /* cleanses the key schedule */
        EVP_MD_CTX_free(ks->hmac[i]);
    }
    EVP_MD_CTX_free(ks->work);
    OPENSSL_clear_free(ks, sizeof *ks);
    *be = NULL;
}

void iote_be_keys_init(void **be, const uint8_t *enc, size_t enc_len, const uint8_t mac[32])
{
    const EVP_CIPHER *cipher = enc_len == 16 ? EVP_aes_128_cbc() : enc_len == 32 ? EVP_aes_256_cbc() : NULL;
    key_state *ks = (key_state *)OPENSSL_zalloc(sizeof *ks);
    uint8_t block[64];
    int ok = ks != NULL && cipher != NULL;
    int i, j;
    *be = ks;
    for (i = 0; ok && i < 2; i++) {
        ks->aes[i] = EVP_CIPHER_CTX_new();
        ok = ks->aes[i] != NULL && EVP_CipherInit_ex(ks->aes[i], cipher, NULL, enc, NULL, i == 0) == 1 &&
             EVP_CIPHER_CTX_set_padding(ks->aes[i], 0) == 1;
    }
    for (i = 0; ok && i < 2; i++) {
        for (j = 0; j < 64; j++) {
            block[j] = (uint8_t)((j < 32 ? mac[j] : 0u) ^ (i == 0 ? 0x36u : 0x5cu));
        }
        ks->hmac[i] = EVP_MD_CTX_new();
        ok = ks->hmac[i] != NULL && EVP_DigestInit_ex(ks->hmac[i], EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ks->hmac[i], block, sizeof block) == 1;
    }
    OPENSSL_cleanse(block, sizeof block);
    if (ok) {
        ks->work = EVP_MD_CTX_new();
        ok = ks->work != NULL;
    }
    if (!ok) {
        iote_be_keys_free(be); /* the library then uses one-shot contexts */
    }
}

int iote_be_hmac_begin(iote_be_sha256_ctx *ctx, void *be, int outer)
{
    key_state *ks = (key_state *)be;
    if (ks == NULL || !take(&ks->busy_md)) {
        return 1;
    }
    if (EVP_MD_CTX_copy_ex(ks->work, ks->hmac[outer ? 1 : 0]) != 1) {
        give(&ks->busy_md);
        return 1;
    }
    ctx->md = ks->work;
    ctx->owner = ks;
    ctx->failed = 0;
    return 0;
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

int iote_be_aes_cbc_key(void *be, int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16],
                        uint8_t *data, size_t len)
{
    key_state *ks = (key_state *)be;
    int d = decrypt ? 1 : 0;
    int outl = 0;
    int ok;
    if (ks == NULL || len == 0 || len % 16 != 0 || len > (size_t)INT_MAX || !take(&ks->busy_aes[d])) {
        return iote_be_aes_cbc(decrypt, key, key_len, iv, data, len);
    }
    /* the key schedule stays; only the IV is set (enc = -1 keeps the direction) */
    ok = EVP_CipherInit_ex(ks->aes[d], NULL, NULL, NULL, iv, -1) == 1 &&
         EVP_CipherUpdate(ks->aes[d], data, &outl, data, (int)len) == 1 && (size_t)outl == len;
    give(&ks->busy_aes[d]);
    return ok ? 0 : -1;
}

const char *iote_be_name(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}
#endif
