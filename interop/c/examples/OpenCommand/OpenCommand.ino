// Open down commands (backend -> device) arriving as compact envelope lines on Serial, refuse replays (also
// after a reboot), and answer each accepted command with a sealed acknowledgement {"ack":<seq>}.
// The backend seals a command with `iotenvelope seal --key <secret> --device sensor-01 --direction down
// --seq N` (Python) or the Node.js module, and opens the acknowledgements like any reading.
//
// State kept in EEPROM (each a two-slot, checksummed record written alternately, iote_device.h):
//  * bytes 0..15: the boot-safe counter for this device's own seq (up), as in SealReading;
//  * bytes 16..31: the lowest down seq still accepted, raised to seq + 1 before a command is acted on, so a
//    command recorded off the air cannot be replayed, also after a reboot. Commands must therefore arrive in
//    order (a late one is refused); a device that must take reordered commands keeps an iote_window as well
//    and persists the window's top the same way (after a reboot everything at or below it is refused).
// IVs: ESP8266/ESP32 hardware RNG; AVR HMAC-SHA-256(K_iv, u32be(seq)) (SPEC.md section 7; this sketch seals
// only data envelopes up, so its seq is a valid IV counter). Lines starting with '#' are status messages.
#include <EEPROM.h>
#include <iote_device.h>
#include <iotenvelope.h>

static const uint8_t SECRET[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                   0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};  // provision per device
static const char DEVICE[] = "sensor-01";
#define SEQ_K 16
#define EEPROM_UP_COUNTER_AT 0
#define EEPROM_DOWN_FLOOR_AT 16

static iote_keys keys;
static iote_counter up_counter;
static uint32_t down_floor;   // persisted: nothing below it is accepted
static uint8_t down_slot;     // the slot the next floor goes to
static bool ready = false;
static char line[200];        // one compact command line; opened in place
static uint8_t line_len = 0;

static int eeprom_read(void *, uint16_t at, uint8_t *buf, uint8_t len) {
  for (uint8_t i = 0; i < len; i++) buf[i] = EEPROM.read(at + i);
  return 0;
}

static int eeprom_write(void *, uint16_t at, const uint8_t *buf, uint8_t len) {
  for (uint8_t i = 0; i < len; i++) EEPROM.update(at + i, buf[i]);
#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
  return EEPROM.commit() ? 0 : 1;
#else
  return 0;
#endif
}

#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
static void fill_iv(uint32_t, uint8_t iv[16]) {
  for (int i = 0; i < 16; i += 4) {
#if defined(ARDUINO_ARCH_ESP8266)
    uint32_t r = RANDOM_REG32;
#else
    uint32_t r = esp_random();
#endif
    memcpy(iv + i, &r, 4);
  }
}
#else
static uint8_t k_iv[32];
static void fill_iv(uint32_t seq, uint8_t iv[16]) { iote_iv_from_counter(k_iv, seq, iv); }
#endif

static void status(const __FlashStringHelper *what, int code) {
  Serial.print(F("# "));
  Serial.print(what);
  Serial.println(code);
}

static void acknowledge(uint32_t down_seq) {
  char msg[24];
  int n = snprintf(msg, sizeof msg, "{\"ack\":%lu}", (unsigned long)down_seq);
  uint32_t seq;
  int rc = iote_counter_next(&up_counter, &seq);
  if (rc != IOTE_OK) {
    status(F("no sequence number: "), rc);
    return;
  }
  iote_fields f;
  f.direction = IOTE_UP;
  f.type = IOTE_TYPE_DATA;
  f.dev = DEVICE;
  f.dev_len = sizeof DEVICE - 1;
  f.seq = seq;
  f.ts = 0;
  uint8_t iv[16];
  fill_iv(seq, iv);
  size_t len = 0;
  rc = iote_seal(&keys, &f, iv, (const uint8_t *)msg, (size_t)n, IOTE_FMT_COMPACT, line, sizeof line, &len);
  if (rc == IOTE_OK) {
    Serial.println(line);
  } else {
    status(F("seal failed: "), rc);
  }
}

static void handle_line() {
  iote_header h;
  size_t n = 0;
  int rc = iote_open(&keys, IOTE_DOWN, line, line_len, IOTE_FMT_COMPACT, (uint8_t *)line, sizeof line, &h, &n);
  if (rc != IOTE_OK) {  // MAC first: nothing of a forged command is used
    status(F("refused: error "), rc);
    return;
  }
  if (h.type != IOTE_TYPE_DATA || strcmp(h.dev, DEVICE) != 0) {
    status(F("refused: not a command for this device "), 0);
    return;
  }
  if (h.seq < down_floor) {
    status(F("refused: replay (below the stored floor) "), IOTE_REPLAY_TOO_OLD);
    return;
  }
  // persist before acting: neither a repeat nor a reboot may make this command acceptable again
  if (h.seq == 0xFFFFFFFFul ||
      iote_mark_store(eeprom_write, NULL, EEPROM_DOWN_FLOOR_AT, down_slot, h.seq + 1) != IOTE_OK) {
    status(F("refused: cannot store the floor "), 0);
    return;
  }
  down_floor = h.seq + 1;
  down_slot ^= 1;
  // act on the command: line[0 .. n) holds its plaintext
  Serial.print(F("# command "));
  Serial.println((int)n);
  acknowledge(h.seq);
}

void setup() {
  Serial.begin(115200);
#if defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32)
  EEPROM.begin(64);
#endif
  if (iote_keys_init(&keys, SECRET, sizeof SECRET) != IOTE_OK) {
    Serial.println(F("# bad secret"));
    return;
  }
#if !(defined(ARDUINO_ARCH_ESP8266) || defined(ARDUINO_ARCH_ESP32))
  iote_iv_key(SECRET, sizeof SECRET, k_iv);
#endif
  if (iote_counter_begin(&up_counter, SEQ_K, eeprom_read, eeprom_write, NULL, EEPROM_UP_COUNTER_AT) != IOTE_OK ||
      iote_mark_load(eeprom_read, NULL, EEPROM_DOWN_FLOOR_AT, &down_floor, &down_slot) != IOTE_OK) {
    Serial.println(F("# cannot read EEPROM"));
    return;
  }
  ready = true;
  Serial.println(F("# ready"));
}

void loop() {
  while (ready && Serial.available() > 0) {
    int c = Serial.read();
    if (c == '\n' || c == '\r') {
      if (line_len > 0) handle_line();
      line_len = 0;
    } else if (line_len < sizeof line - 1) {
      line[line_len++] = (char)c;
    } else {
      line_len = 0;  // too long for this device: drop the line
      status(F("refused: line too long "), 0);
      while (Serial.available() > 0 && Serial.read() != '\n') {
      }
    }
  }
}
