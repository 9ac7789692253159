/* tiny-AES-c as AES-128 (see tinyaes_unit.h and backend_tinyaes.c). */
#include "iote_backend.h"
#include "iotenvelope.h"
#include "iote_aes.h"

#if defined(IOTE_BACKEND_TINYAES) && !IOTE_OWN_AES && 1
#define IOTE_TINYAES_BITS 128
#include "tinyaes_unit.h"
#else
typedef int iote_tinyaes128_unused; /* ISO C forbids an empty translation unit */
#endif
