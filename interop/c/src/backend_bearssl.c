/* Backend: BearSSL (the ESP8266 Arduino core ships it; Debian libbearssl-dev). Uses the constant-time
 * "ct" AES implementation. */
#include "iote_backend.h"

#if defined(IOTE_BACKEND_BEARSSL)
#include <string.h>

#include <bearssl/bearssl.h> /* the path both the ESP8266 core and Debian use */

int iote_be_sha256(const iote_span *parts, size_t count, uint8_t out[32])
{
    br_sha256_context ctx;
    size_t i;
    br_sha256_init(&ctx);
    for (i = 0; i < count; i++) {
        br_sha256_update(&ctx, parts[i].p, parts[i].n);
    }
    br_sha256_out(&ctx, out);
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
