/*
 * The one narrow interface between iotenvelope and a crypto library: SHA-256 (init/update/final), and AES-CBC
 * without padding over whole blocks, in place, leaving the caller's IV untouched.
 *
 * Exactly one backend is compiled in, chosen with -DIOTE_BACKEND_<NAME>=1:
 *   MBEDTLS   mbedtls_aes_* + mbedtls_sha256_*     (ESP32 / ESP-IDF; Debian libmbedtls-dev)
 *   OPENSSL   EVP aes-*-cbc + EVP sha256          (Linux gateways; Debian libssl-dev)
 *   BEARSSL   br_aes_ct_cbc* + br_sha256           (ESP8266 Arduino core; Debian libbearssl-dev)
 *   TINYAES   tiny-AES-c (aes.c/aes.h) + iote_sha256.c, this project's own SHA-256 (AVR, small MCUs)
 * Without a -D the choice follows the Arduino core: ESP8266 -> BearSSL, ESP32 -> mbedTLS, otherwise TINYAES.
 */
#ifndef IOTE_BACKEND_H
#define IOTE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#if !defined(IOTE_BACKEND_MBEDTLS) && !defined(IOTE_BACKEND_OPENSSL) && !defined(IOTE_BACKEND_BEARSSL) && \
    !defined(IOTE_BACKEND_TINYAES)
#if defined(ARDUINO_ARCH_ESP8266)
#define IOTE_BACKEND_BEARSSL 1
#elif defined(ARDUINO_ARCH_ESP32) || defined(ESP_PLATFORM)
#define IOTE_BACKEND_MBEDTLS 1
#else
#define IOTE_BACKEND_TINYAES 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* SHA-256 as init / update / final on a backend-specific context (on the caller's stack: no heap in
 * iotenvelope; OpenSSL allocates its EVP context internally, or borrows a per-key one, IOTE_BE_KEYCTX). final
 * always releases the context and reports any failure since init. All return 0 on success. */
#if defined(IOTE_BACKEND_OPENSSL)
typedef struct {
    void *md;    /* EVP_MD_CTX * */
    void *owner; /* the per-key state whose context md is (released, not freed, by final), or NULL */
    int failed;
} iote_be_sha256_ctx;
#elif defined(IOTE_BACKEND_MBEDTLS)
#include <mbedtls/sha256.h>
typedef struct {
    mbedtls_sha256_context c;
    int failed;
} iote_be_sha256_ctx;
#elif defined(IOTE_BACKEND_BEARSSL)
#include <bearssl/bearssl.h>
typedef br_sha256_context iote_be_sha256_ctx;
#else
#include "iote_sha256.h"
typedef iote_sha256_ctx iote_be_sha256_ctx;
#endif

int iote_be_sha256_init(iote_be_sha256_ctx *ctx);
void iote_be_sha256_update(iote_be_sha256_ctx *ctx, const uint8_t *data, size_t len);
int iote_be_sha256_final(iote_be_sha256_ctx *ctx, uint8_t out[32]);

/* Optional (IOTE_BE_MIDSTATE): export the chaining state after exactly one 64-byte block, and start a context
 * from such a state. HMAC then precomputes its key blocks once per key (2 of 5 compressions of a seal). */
#if defined(IOTE_BACKEND_TINYAES) || defined(IOTE_BACKEND_BEARSSL)
#define IOTE_BE_MIDSTATE 1
void iote_be_sha256_save(const iote_be_sha256_ctx *ctx, uint8_t state[32]);
int iote_be_sha256_resume(iote_be_sha256_ctx *ctx, const uint8_t state[32]);
#endif

/* Optional (IOTE_BE_KEYCTX): long-lived per-key contexts, kept in iote_keys.be (OpenSSL: EVP_CIPHER_CTX with the
 * AES key schedule for each direction, EVP_MD_CTX states after the HMAC key blocks). The state is never needed:
 * be == NULL (allocation failed) or a context in use by another thread makes every call fall back to one-shot
 * contexts, so one iote_keys may be shared by threads.
 *   keys_init  builds *be for K_enc (enc_len bytes) and K_mac (32 bytes); leaves *be NULL on failure.
 *   keys_free  frees and cleanses *be, sets it NULL.
 *   hmac_begin starts ctx after the inner (outer = 0) or outer (1) key block of K_mac: 0 on success, -1 on a
 *              backend failure, 1 when the per-key state cannot be used (the caller then hashes the key block).
 *   aes_cbc_key  iote_be_aes_cbc with key's per-key context (be may be NULL: plain iote_be_aes_cbc). */
#if defined(IOTE_BACKEND_OPENSSL)
#define IOTE_BE_KEYCTX 1
void iote_be_keys_init(void **be, const uint8_t *enc, size_t enc_len, const uint8_t mac[32]);
void iote_be_keys_free(void **be);
int iote_be_hmac_begin(iote_be_sha256_ctx *ctx, void *be, int outer);
int iote_be_aes_cbc_key(void *be, int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16],
                        uint8_t *data, size_t len);
#endif

/* AES-CBC over len bytes of data in place (len a multiple of 16, may be 0); decrypt != 0 decrypts.
 * key_len 16 or 32. The iv buffer is never modified. Returns 0 on success. */
int iote_be_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data,
                    size_t len);

/* A short name of the backend and its library version, e.g. "mbedtls 2.28.3". */
const char *iote_be_name(void);

#ifdef __cplusplus
}
#endif
#endif
