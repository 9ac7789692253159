/* This project's own compact AES-CBC (FIPS 197, SP 800-38A) for small MCUs, no padding: see iote_aes.c.
 * Whole 16-byte blocks in place; the iv buffer is not modified; key_len 16, or 32 with IOTE_WITH_AES256.
 * Returns 0, or -1 for a bad length or key size. Round keys live on the stack (176 or 240 bytes) and are
 * wiped before returning. */
#ifndef IOTE_AES_H
#define IOTE_AES_H

/* IOTE_OWN_AES: the tiny-AES-c backend (IOTE_BACKEND_TINYAES) takes its AES from iote_aes.c (1, the default
 * on AVR: smaller and faster there) or from tiny-AES-c (0, the default elsewhere). */
#ifndef IOTE_OWN_AES
#if defined(__AVR__)
#define IOTE_OWN_AES 1
#else
#define IOTE_OWN_AES 0
#endif
#endif

/* IOTE_AES_ASM: on AVR, iote_aes_cbc is the assembly in iote_aes_avr.S (1, the default there: smaller and faster
 * than avr-gcc's code for iote_aes.c), which reads the S-boxes iote_aes.c keeps in flash; 0 uses the C. Other
 * targets always use the C. This header is also included by the assembly, hence the __ASSEMBLER__ guard. */
#ifndef IOTE_AES_ASM
#if defined(__AVR__)
#define IOTE_AES_ASM 1
#else
#define IOTE_AES_ASM 0
#endif
#endif

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int iote_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* !__ASSEMBLER__ */
#endif
