// Runs a sketch on Linux against the stand-ins of this folder: `sketch EEPROM_IMAGE LOOPS` calls setup()
// once and loop() LOOPS times (one "boot"), with EEPROM in the image file (created blank 0xFF if missing).
#include <stdlib.h>

#include "Arduino.h"
#include "EEPROM.h"

HostSerial Serial;
HostEEPROM EEPROM;
static unsigned long now_ms;
static FILE *image;
static uint8_t cells[1024];

void HostSerial::begin(long) {}
void HostSerial::print(const __FlashStringHelper *s) { fputs(reinterpret_cast<const char *>(s), stdout); }
void HostSerial::print(const char *s) { fputs(s, stdout); }
void HostSerial::print(int v) { printf("%d", v); }
void HostSerial::println(const __FlashStringHelper *s) { print(s); putchar('\n'); }
void HostSerial::println(const char *s) { print(s); putchar('\n'); }
void HostSerial::println(int v) { print(v); putchar('\n'); }
int HostSerial::available()
{
    int c = getchar();
    if (c == EOF) {
        return 0;
    }
    ungetc(c, stdin);
    return 1;
}
int HostSerial::read() { return getchar(); }
unsigned long millis(void) { return now_ms; }
void delay(unsigned long ms) { now_ms += ms; }

uint8_t HostEEPROM::read(int at) { return at >= 0 && at < 1024 ? cells[at] : 0xFF; }
void HostEEPROM::update(int at, uint8_t v)
{
    if (at < 0 || at >= 1024 || cells[at] == v) {
        return;
    }
    cells[at] = v;
    if (fseek(image, at, SEEK_SET) != 0 || fputc(v, image) == EOF || fflush(image) != 0) {
        fputs("host EEPROM: write failed\n", stderr);
        exit(2);
    }
}

void setup();
void loop();

int main(int argc, char **argv)
{
    if (argc != 3) {
        fputs("usage: sketch EEPROM_IMAGE LOOPS\n", stderr);
        return 2;
    }
    image = fopen(argv[1], "r+b");
    if (image == NULL) {
        image = fopen(argv[1], "w+b");
        memset(cells, 0xFF, sizeof cells);
        if (image == NULL || fwrite(cells, 1, sizeof cells, image) != sizeof cells || fflush(image) != 0) {
            fputs("host EEPROM: cannot create the image\n", stderr);
            return 2;
        }
    } else if (fread(cells, 1, sizeof cells, image) != sizeof cells) {
        fputs("host EEPROM: the image is not 1024 bytes\n", stderr);
        return 2;
    }
    setup();
    for (long i = atol(argv[2]); i > 0; i--) {
        loop();
    }
    fflush(stdout);
    return 0;
}
