/* tiny-AES-c as AES-256 (see tinyaes_unit.h and backend_tinyaes.c). */
#include "iote_backend.h"
#include "iotenvelope.h"
#include "iote_aes.h"

#if defined(IOTE_BACKEND_TINYAES) && !IOTE_OWN_AES && IOTE_WITH_AES256
#define IOTE_TINYAES_BITS 256
#include "tinyaes_unit.h"
#else
typedef int iote_tinyaes256_unused; /* ISO C forbids an empty translation unit */
#endif
