/* Compiles tiny-AES-c's aes.c as AES-IOTE_TINYAES_BITS under private names; included by tinyaes128.c and
 * tinyaes256.c (tiny-AES-c fixes the key size at compile time; see backend_tinyaes.c). aes.c/aes.h are not part
 * of this repository: the build takes them from the tinyaes source distribution on PyPI (docs/c.md). */
/* The Arduino release zip carries the flash-S-box copy as tinyaes/aes_c.inc (tools/arduino_zip.sh); builds
 * from the repository put aes.c on the include path. */
#if defined(__has_include)
#if __has_include("tinyaes/aes_c.inc")
#define IOTE_TINYAES_SOURCE "tinyaes/aes_c.inc"
#elif __has_include("aes.c")
#define IOTE_TINYAES_SOURCE "aes.c"
#else
#error "tiny-AES-c's aes.c/aes.h not found: put them on the include path (see docs/c.md)"
#endif
#else
#define IOTE_TINYAES_SOURCE "aes.c"
#endif
#include <string.h>

#define IOTE_TA_CAT2(a, b) a##b
#define IOTE_TA_CAT(a, b) IOTE_TA_CAT2(a, b)
#define IOTE_TA(name) IOTE_TA_CAT(IOTE_TA_CAT(iote_tinyaes, IOTE_TINYAES_BITS), name)

#define CBC 1
#define ECB 0
#define CTR 0
#if IOTE_TINYAES_BITS == 256
#define AES256 1
#endif
#define AES_ctx IOTE_TA(_ctx)
#define AES_init_ctx IOTE_TA(_init_ctx)
#define AES_init_ctx_iv IOTE_TA(_init_ctx_iv)
#define AES_ctx_set_iv IOTE_TA(_ctx_set_iv)
#define AES_CBC_encrypt_buffer IOTE_TA(_cbc_encrypt_buffer)
#define AES_CBC_decrypt_buffer IOTE_TA(_cbc_decrypt_buffer)
#include IOTE_TINYAES_SOURCE

int IOTE_TA(_cbc)(int decrypt, const uint8_t *key, const uint8_t iv[16], uint8_t *data, size_t len);

int IOTE_TA(_cbc)(int decrypt, const uint8_t *key, const uint8_t iv[16], uint8_t *data, size_t len)
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
