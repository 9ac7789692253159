/* The few Arduino core declarations examples/SealReading uses, so `make sketch` can compile the sketch with
 * avr-g++ in CI (no Arduino IDE there). Not a replacement for the Arduino core. */
#ifndef IOTE_ARDUINO_SHIM_H
#define IOTE_ARDUINO_SHIM_H
#include <avr/pgmspace.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

class __FlashStringHelper;
#define F(s) (reinterpret_cast<const __FlashStringHelper *>(PSTR(s)))

struct ShimSerial {
    void begin(long baud);
    void print(const __FlashStringHelper *s);
    void println(const __FlashStringHelper *s);
    void println(const char *s);
    void println(int v);
};
extern ShimSerial Serial;
unsigned long millis(void);
void delay(unsigned long ms);
#endif
