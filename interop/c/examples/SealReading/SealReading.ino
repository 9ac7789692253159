// Seal a sensor reading into an iotenvelope (SPEC.md envelope v1, compact form) and print it.
// The backend opens it with `iotenvelope open --key <secret>` (Python), the Node.js module, or any peer.
//
// Backends: ESP8266 -> BearSSL (in the core), ESP32 -> mbedTLS (in the core), AVR -> tiny-AES-c: copy
// tiny-AES-c's aes.c/aes.h into the library's src/ folder first (docs/c.md; tools/avr_progmem.sh moves
// its S-boxes to flash, which an Uno needs).
#include <iotenvelope.h>

// One 16-byte secret per device, shared with the backend (`iotenvelope keygen`). Provision it; do not
// commit real secrets.
static const uint8_t SECRET[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const char DEVICE[] = "sensor-01";

static iote_keys keys;
static uint32_t seq = 1;  // a real device resumes from a persisted high-water mark (SPEC.md section 7)
static char text[160];    // compact text of a reading up to 47 bytes: iote_sealed_len() tells the exact size

#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
static void fill_iv(uint8_t iv[16]) {
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
// An ATmega328P has no hardware RNG. SPEC.md section 7 wants a CSPRNG: here an HMAC-SHA-256 generator keyed
// with a second random per-device secret (IV_SEED, provisioned like SECRET, never sent) over a counter that
// never repeats (persist it with the boot-safe high-water mark). Better still: an ATECC608 or similar.
static const uint8_t IV_SEED[32] = {0};  // provision 32 random bytes per device
static uint32_t iv_counter = 0;
static void fill_iv(uint8_t iv[16]) {
  uint8_t block[32];
  uint8_t ctr[4] = {(uint8_t)(iv_counter >> 24), (uint8_t)(iv_counter >> 16), (uint8_t)(iv_counter >> 8),
                    (uint8_t)iv_counter};
  iv_counter++;
  iote_hmac_sha256(IV_SEED, sizeof IV_SEED, ctr, sizeof ctr, block);
  memcpy(iv, block, 16);
}
#endif

void setup() {
  Serial.begin(115200);
  if (iote_keys_init(&keys, SECRET, sizeof SECRET) != IOTE_OK) {  // derive once (about 62 ms on an Uno)
    Serial.println(F("bad secret"));
  }
}

void loop() {
  char reading[48];
  int co2 = 400 + (int)(millis() / 1000 % 1000);  // stand-in for a sensor
  int n = snprintf(reading, sizeof reading, "{\"co2\":%d}", co2);

  iote_fields f;
  f.direction = IOTE_UP;
  f.type = IOTE_TYPE_DATA;
  f.dev = DEVICE;
  f.dev_len = sizeof DEVICE - 1;
  f.seq = seq++;
  f.ts = 0;  // no clock: "time unknown"; the sequence number carries replay defence

  uint8_t iv[16];
  fill_iv(iv);
  size_t len = 0;
  int rc = iote_seal(&keys, &f, iv, (const uint8_t *)reading, (size_t)n, IOTE_FMT_COMPACT, text, sizeof text, &len);
  if (rc == IOTE_OK) {
    Serial.println(text);  // e.g. AQEACXNlbnNvci0wMQAAAAEAAAAA...
  } else {
    Serial.print(F("seal failed: "));
    Serial.println(rc);
  }
  delay(10000);
}
