/* Host (Linux) stand-in for the few Arduino core calls the examples use, so a sketch's own logic can run as a
 * Linux program in tests (tests/test_c.py "reboots" it with an EEPROM image file). It is not used for any AVR
 * build: those use the real Arduino core through arduino-builder (make arduino-build). Serial prints to stdout,
 * millis() is simulated time that delay() advances, EEPROM (EEPROM.h) is a 1 KB image file. */
#ifndef IOTE_HOST_ARDUINO_H
#define IOTE_HOST_ARDUINO_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

class __FlashStringHelper;
#define F(s) (reinterpret_cast<const __FlashStringHelper *>(s))
/* Serial input is stdin: available() is 1 until end of input */

struct HostSerial {
    void begin(long baud);
    void print(const __FlashStringHelper *s);
    void print(const char *s);
    void print(int v);
    void println(const __FlashStringHelper *s);
    void println(const char *s);
    void println(int v);
    int available();
    int read();
};
extern HostSerial Serial;
unsigned long millis(void);
void delay(unsigned long ms);
#endif
