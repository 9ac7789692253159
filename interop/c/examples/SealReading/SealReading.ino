// Seal a sensor reading into an iotenvelope (SPEC.md envelope v1, compact form) and print it, one envelope per
// line. The backend opens it with `iotenvelope open --key <secret>` (Python), the Node.js module, or any peer.
//
// What a device must get right, and how this sketch does it:
//  * seq never repeats, across reboots too: an iote_counter keeps a boot-safe high-water mark in EEPROM
//    (two 8-byte slots with check values at EEPROM_COUNTER_AT, a new mark every SEQ_K readings; after a
//    reboot the sketch resumes above every number it used, skipping at most SEQ_K; SPEC.md section 7).
//  * the IV is unpredictable: ESP8266/ESP32 take it from the hardware RNG; an AVR has none, so it uses
//    iv = HMAC-SHA-256(K_iv, u32be(seq))[0:16] with K_iv derived from the device secret ("iotenvelope v1 iv",
//    SPEC.md sections 2.2 and 7). seq is a valid counter for it because this sketch seals only one envelope
//    type (data, up); a sketch that also sends resync requests needs a second counter for its IVs.
// Serial output: envelope lines; lines starting with '#' are status messages.
//
// Backends: ESP8266 -> BearSSL, ESP32 -> mbedTLS (both in the core), AVR -> tiny-AES-c (shipped inside this
// library's release zip; see docs/c.md).
#include <EEPROM.h>
#include <iote_device.h>
#include <iotenvelope.h>

// One 16-byte secret per device, shared with the backend (`iotenvelope keygen`). Provision it; do not
// commit real secrets. This one is the documentation's example secret 000102...0f.
static const uint8_t SECRET[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const char DEVICE[] = "sensor-01";

#ifndef SEAL_INTERVAL_MS
#define SEAL_INTERVAL_MS 10000UL  // one reading every 10 s
#endif
#ifndef SEQ_K
#define SEQ_K 16  // EEPROM writes once per 16 readings (alternating between two slots)
#endif
#define EEPROM_COUNTER_AT 0  // IOTE_COUNTER_STORE_LEN (16) bytes from here belong to the counter

static iote_keys keys;
static iote_counter seq_counter;
static bool ready = false;
static char text[160];  // compact text of a reading up to 47 bytes: iote_sealed_len() tells the exact size

static int eeprom_read(void *, uint16_t at, uint8_t *buf, uint8_t len) {
  for (uint8_t i = 0; i < len; i++) buf[i] = EEPROM.read(at + i);
  return 0;
}

static int eeprom_write(void *, uint16_t at, const uint8_t *buf, uint8_t len) {
  for (uint8_t i = 0; i < len; i++) EEPROM.update(at + i, buf[i]);  // AVR: returns once the byte is written
#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
  return EEPROM.commit() ? 0 : 1;  // the ESP cores emulate EEPROM in flash: commit before the number is used
#else
  return 0;
#endif
}

#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
static void fill_iv(uint32_t, uint8_t iv[16]) {
  for (int i = 0; i < 16; i += 4) {  // the hardware RNG
#if defined(ARDUINO_ARCH_ESP8266)
    uint32_t r = RANDOM_REG32;
#else
    uint32_t r = esp_random();
#endif
    memcpy(iv + i, &r, 4);
  }
}
#else
static uint8_t k_iv[32];  // derived from SECRET in setup(); never sent
static void fill_iv(uint32_t seq, uint8_t iv[16]) { iote_iv_from_counter(k_iv, seq, iv); }
#endif

void setup() {
  Serial.begin(115200);
#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
  EEPROM.begin(64);
#endif
  // derive once (about 62 ms on an Uno)
  if (iote_keys_init(&keys, SECRET, sizeof SECRET) != IOTE_OK) {
    Serial.println(F("# bad secret"));
    return;
  }
#if !(defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32))
  iote_iv_key(SECRET, sizeof SECRET, k_iv);
#endif
  if (iote_counter_begin(&seq_counter, SEQ_K, eeprom_read, eeprom_write, NULL, EEPROM_COUNTER_AT) != IOTE_OK) {
    Serial.println(F("# cannot read the counter from EEPROM"));
    return;
  }
  ready = true;
}

void loop() {
  if (!ready) {
    delay(SEAL_INTERVAL_MS);
    return;
  }
  char reading[48];
  int co2 = 400 + (int)(millis() / 1000 % 1000);  // stand-in for a sensor
  int n = snprintf(reading, sizeof reading, "{\"co2\":%d}", co2);

  uint32_t seq;
  int rc = iote_counter_next(&seq_counter, &seq);  // writes the next mark to EEPROM first when it is due
  if (rc != IOTE_OK) {
    Serial.print(F("# no sequence number: "));
    Serial.println(rc);
    delay(SEAL_INTERVAL_MS);
    return;
  }
  iote_fields f;
  f.direction = IOTE_UP;
  f.type = IOTE_TYPE_DATA;
  f.dev = DEVICE;
  f.dev_len = sizeof DEVICE - 1;
  f.seq = seq;
  f.ts = 0;  // no clock: "time unknown"; the sequence number carries replay defence

  uint8_t iv[16];
  fill_iv(seq, iv);
  size_t len = 0;
  rc = iote_seal(&keys, &f, iv, (const uint8_t *)reading, (size_t)n, IOTE_FMT_COMPACT, text, sizeof text, &len);
  if (rc == IOTE_OK) {
    Serial.println(text);  // e.g. AQEACXNlbnNvci0wMQAAAAAAAAAA...
  } else {
    Serial.print(F("# seal failed: "));
    Serial.println(rc);
  }
  delay(SEAL_INTERVAL_MS);
}
