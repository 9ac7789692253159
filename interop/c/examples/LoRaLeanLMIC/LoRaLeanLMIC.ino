// LoRaWAN on an ATmega328P with LMIC: seal a sensor reading in iotenvelope's lean form (SPEC.md section 5.3)
// and hand the frame to LMIC_setTxData2. The lean form leaves the device id off the air (the backend knows it
// from the network's device id) and derives the IV from seq, so a 20-byte reading is a 45-byte frame (49 with
// a timestamp), which fits even EU868 SF12 (51 bytes). The network server's AppSKey encryption stays on top;
// the envelope is end-to-end: only your backend (iotenvelope ingest: The Things Stack / ChirpStack uplinks)
// holds the device secret and opens it.
//
// LMIC is a separate library: install MCCI LoRaWAN LMIC ("MCCI LoRaWAN LMIC library" in the Library
// Manager) and set your region in its project_config. This repository's CI has no LMIC: it compiles this
// sketch with arduino-builder against a stand-in lmic.h that only declares the four LMIC calls used here
// (tools/lmic_stub, NOT LMIC); the pin map and key callbacks below are then left out.
//
// seq never repeats, also across reboots: an iote_counter keeps a boot-safe mark in EEPROM (as SealReading).
#include <EEPROM.h>
#include <iote_device.h>
#include <iotenvelope.h>
#include <lmic.h>
#if !defined(IOTE_LMIC_STAND_IN)
#include <hal/hal.h>
#include <SPI.h>
#endif

static const uint8_t SECRET[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};  // provision per device
// The id the backend knows this device by (the LoRaWAN device id in its keyring); bound under the tag, not sent.
static const char DEVICE[] = "lora-node-1";
#define FPORT 1
#define SEND_EVERY_MS 300000UL  // every 5 minutes (mind the duty cycle and your network's fair-use policy)
#define SEQ_K 16

#if !defined(IOTE_LMIC_STAND_IN)
// LMIC's OTAA credentials (little-endian EUIs, as the LMIC examples explain) and the Dragino shield's pins
static const u1_t PROGMEM APPEUI[8] = {0};
static const u1_t PROGMEM DEVEUI[8] = {0};
static const u1_t PROGMEM APPKEY[16] = {0};
void os_getArtEui(u1_t *buf) { memcpy_P(buf, APPEUI, 8); }
void os_getDevEui(u1_t *buf) { memcpy_P(buf, DEVEUI, 8); }
void os_getDevKey(u1_t *buf) { memcpy_P(buf, APPKEY, 16); }
const lmic_pinmap lmic_pins = {.nss = 10, .rxtx = LMIC_UNUSED_PIN, .rst = 9, .dio = {2, 6, 7}};
#endif

static iote_lean_keys keys;
static iote_counter seq_counter;
static bool ready = false;
static unsigned long last_send;
static uint8_t frame[64];  // the lean frame of a reading up to 31 bytes with a timestamp is at most 61 bytes

static int eeprom_read(void *, uint16_t at, uint8_t *buf, uint8_t len) {
  for (uint8_t i = 0; i < len; i++) buf[i] = EEPROM.read(at + i);
  return 0;
}

static int eeprom_write(void *, uint16_t at, const uint8_t *buf, uint8_t len) {
  for (uint8_t i = 0; i < len; i++) EEPROM.update(at + i, buf[i]);
  return 0;
}

static void send_reading() {
  char reading[32];
  int co2 = 400 + (int)(millis() / 1000 % 1000);  // stand-in for a sensor
  int n = snprintf(reading, sizeof reading, "{\"co2\":%d}", co2);
  uint32_t seq;
  if (iote_counter_next(&seq_counter, &seq) != IOTE_OK) {
    return;  // EEPROM failed: sending without a fresh seq would repeat an IV
  }
  iote_fields f;
  f.direction = IOTE_UP;
  f.type = IOTE_TYPE_DATA;
  f.dev = DEVICE;
  f.dev_len = sizeof DEVICE - 1;
  f.seq = seq;
  f.ts = 0;  // no clock: 4 bytes less on the air; seq carries replay defence
  size_t len = 0;
  if (iote_lean_seal(&keys, &f, (const uint8_t *)reading, (size_t)n, IOTE_FMT_LEAN_RAW, frame, sizeof frame, &len) ==
      IOTE_OK) {
    LMIC_setTxData2(FPORT, frame, (u1_t)len, 0);  // unconfirmed uplink
  }
}

void setup() {
  Serial.begin(115200);
  if (iote_lean_keys_init(&keys, SECRET, sizeof SECRET) != IOTE_OK ||
      iote_counter_begin(&seq_counter, SEQ_K, eeprom_read, eeprom_write, NULL, 0) != IOTE_OK) {
    Serial.println(F("# cannot start (secret or EEPROM)"));
    return;
  }
  os_init();
  LMIC_reset();
  ready = true;
  last_send = millis() - SEND_EVERY_MS;  // send the first reading now (LMIC joins first with OTAA)
}

void loop() {
  os_runloop_once();  // LMIC's scheduler: must run often
  if (ready && millis() - last_send >= SEND_EVERY_MS) {
    last_send = millis();
    send_reading();
  }
}
