/* NOT LMIC: empty definitions for the stand-in header (see lmic.h here). Nothing is transmitted. */
#include "lmic.h"

void os_init(void) {}
void LMIC_reset(void) {}
void os_runloop_once(void) {}
lmic_tx_error_t LMIC_setTxData2(u1_t port, xref2u1_t data, u1_t dlen, u1_t confirmed)
{
    (void)port;
    (void)data;
    (void)dlen;
    (void)confirmed;
    return 0;
}
