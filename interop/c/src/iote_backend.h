/*
 * The one narrow interface between iotenvelope and a crypto library: SHA-256 over a list of byte spans, and
 * AES-CBC without padding over whole blocks, in place, leaving the caller's IV untouched.
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

typedef struct {
    const uint8_t *p;
    size_t n;
} iote_span;

/* out = SHA-256(parts[0] || ... || parts[count-1]). Returns 0 on success. */
int iote_be_sha256(const iote_span *parts, size_t count, uint8_t out[32]);

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
