/* NOT LMIC. A stand-in header for compiling examples/LoRaLeanLMIC where no LMIC library is installed (CI:
 * tools/arduino_build.sh passes this folder as an extra Arduino library). It declares only what the example
 * calls, with the signatures of MCCI LoRaWAN LMIC 4.x (lmic/lmic.h, lmic/oslmic.h); the definitions in
 * lmic_stub.c do nothing. A real device installs MCCI LMIC, whose lmic.h replaces this one. */
#ifndef IOTE_LMIC_STAND_IN_H
#define IOTE_LMIC_STAND_IN_H
#include <stdint.h>

#define IOTE_LMIC_STAND_IN 1

#ifdef __cplusplus
extern "C" {
#endif
typedef uint8_t u1_t;
typedef u1_t *xref2u1_t;
typedef int lmic_tx_error_t;

void os_init(void);
void LMIC_reset(void);
void os_runloop_once(void);
/* queue an uplink of dlen bytes on FPort port (confirmed 0/1); 0 when queued */
lmic_tx_error_t LMIC_setTxData2(u1_t port, xref2u1_t data, u1_t dlen, u1_t confirmed);
#ifdef __cplusplus
}
#endif
#endif
