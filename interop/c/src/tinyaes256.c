/* tiny-AES-c's aes.c compiled as AES-256 under private names (see backend_tinyaes.c). aes.c/aes.h are not part
 * of this repository: the build takes them from the tinyaes source distribution on PyPI (docs/c.md). */
#include "iote_backend.h"
#include "iotenvelope.h"

#if defined(IOTE_BACKEND_TINYAES) && (256 == 128 || IOTE_WITH_AES256)
#if defined(__has_include)
#if !__has_include("aes.c")
#error "tiny-AES-c's aes.c/aes.h not found: put them on the include path (see docs/c.md)"
#endif
#endif
#include <string.h>

#define CBC 1
#define ECB 0
#define CTR 0
#define AES256 1
#define AES_ctx iote_tinyaes256_ctx
#define AES_init_ctx iote_tinyaes256_init_ctx
#define AES_init_ctx_iv iote_tinyaes256_init_ctx_iv
#define AES_ctx_set_iv iote_tinyaes256_ctx_set_iv
#define AES_CBC_encrypt_buffer iote_tinyaes256_cbc_encrypt_buffer
#define AES_CBC_decrypt_buffer iote_tinyaes256_cbc_decrypt_buffer
#include "aes.c"

int iote_tinyaes256_cbc(int decrypt, const uint8_t *key, const uint8_t iv[16], uint8_t *data, size_t len);

int iote_tinyaes256_cbc(int decrypt, const uint8_t *key, const uint8_t iv[16], uint8_t *data, size_t len)
{
    struct AES_ctx ctx;
    volatile uint8_t *v = (volatile uint8_t *)&ctx;
    size_t i;
    AES_init_ctx_iv(&ctx, key, iv); /* copies iv: the caller's buffer stays as it was */
    if (decrypt) {
        AES_CBC_decrypt_buffer(&ctx, data, len);
    } else {
        AES_CBC_encrypt_buffer(&ctx, data, len);
    }
    for (i = 0; i < sizeof ctx; i++) { /* wipe the round keys */
        v[i] = 0;
    }
    return 0;
}
#else
typedef int iote_tinyaes256_unused; /* ISO C forbids an empty translation unit */
#endif
