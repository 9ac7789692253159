/* Host stand-in for the Arduino EEPROM library (see Arduino.h here): a 1 KB image file, written through on
 * every update, so a killed or restarted program finds what it stored (the path comes from main.cpp). */
#ifndef IOTE_HOST_EEPROM_H
#define IOTE_HOST_EEPROM_H
#include <stdint.h>

struct HostEEPROM {
    uint8_t read(int at);
    void update(int at, uint8_t v);
    void write(int at, uint8_t v) { update(at, v); }
    uint16_t length() { return 1024; }
};
extern HostEEPROM EEPROM;
#endif
