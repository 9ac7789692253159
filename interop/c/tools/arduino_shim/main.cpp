// Entry point and no-op core functions for compiling an example sketch against tools/arduino_shim/Arduino.h.
#include "Arduino.h"

ShimSerial Serial;
void ShimSerial::begin(long) {}
void ShimSerial::print(const __FlashStringHelper *) {}
void ShimSerial::println(const __FlashStringHelper *) {}
void ShimSerial::println(const char *) {}
void ShimSerial::println(int) {}
unsigned long millis(void) { return 0; }
void delay(unsigned long) {}

void setup();
void loop();

int main(void)
{
    setup();
    loop();
    return 0;
}
