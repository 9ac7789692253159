/*
 * Helpers for devices without a random source (an ATmega328P): the derived IV key K_iv and the boot-safe
 * counter of SPEC.md section 7.
 *
 * IVs: iote_iv_key() derives K_iv = HKDF-Expand(PRK, "iotenvelope v1 iv", 32) from the device secret (SPEC.md
 * section 2.2); iote_iv_from_counter() computes iv = HMAC-SHA-256(K_iv, u32be(c))[0:16]. c must never repeat
 * for this secret, across reboots too: take it from an iote_counter (it may be the sequence number itself when
 * the device seals only one envelope type per direction, as SPEC.md section 7 allows).
 *
 * Counter: a high-water mark M kept in two slots of IOTE_COUNTER_SLOT_LEN bytes each (EEPROM, flash, a file:
 * whatever the caller's read/write callbacks reach), written alternately, each with its own check value.
 * Before a number >= the current mark is handed out, mark + K is written into the slot that does not hold the
 * current mark; after a reboot the counter resumes at the larger valid mark. A power cut damages at most the
 * slot being written, which never held a mark any returned number reached, so no number is ever returned
 * twice; at most K numbers are skipped per reboot. Slot layout: u32be(M) || SHA-256("iote mark" || slot ||
 * u32be(M))[0:4]. A slot that fails its check (blank 0xFF EEPROM, a torn write) is ignored; a device on which
 * neither slot is valid starts at 0.
 */
#ifndef IOTE_DEVICE_H
#define IOTE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* K_iv from a 16- or 32-byte device secret; IOTE_ERR_BAD_KEY (3) for any other length, else 0. */
int iote_iv_key(const uint8_t *secret, size_t secret_len, uint8_t k_iv[32]);
/* iv = HMAC-SHA-256(k_iv, u32be(c))[0:16] */
void iote_iv_from_counter(const uint8_t k_iv[32], uint32_t c, uint8_t iv[16]);

/* Storage callbacks: read/write len bytes at offset; return 0 on success. A write returns only once the bytes
 * are stored (EEPROM: eeprom_update_block; a file: written and flushed). */
typedef int (*iote_store_read_fn)(void *ctx, uint16_t offset, uint8_t *buf, uint8_t len);
typedef int (*iote_store_write_fn)(void *ctx, uint16_t offset, const uint8_t *buf, uint8_t len);

#define IOTE_COUNTER_SLOT_LEN 8u                         /* one slot: mark + check value */
#define IOTE_COUNTER_STORE_LEN (2u * IOTE_COUNTER_SLOT_LEN) /* both slots, from the given offset */

/* results besides IOTE_OK (0) and IOTE_ERR_ARGUMENT (8, also for K < 1) */
#define IOTE_COUNTER_STORAGE 20   /* a read or write callback failed: nothing handed out */
#define IOTE_COUNTER_EXHAUSTED 21 /* 4294967294 was the last number: replace the secret (SPEC.md section 7) */

typedef struct {
    iote_store_read_fn read;
    iote_store_write_fn write;
    void *ctx;
    uint16_t offset; /* slot 0 at offset, slot 1 at offset + IOTE_COUNTER_SLOT_LEN */
    int32_t k;
    uint32_t next;  /* the next number to hand out */
    uint32_t limit; /* the mark stored last: numbers below it are covered */
    uint8_t slot;   /* the slot the next mark goes to (the one not holding `limit`) */
    uint8_t ready;
} iote_counter;

/* The two-slot store underneath, for any number that must survive power cuts (e.g. the lowest down seq a device
 * still accepts after a reboot, examples/OpenCommand). load: the larger valid mark of the two slots at offset
 * (0 when neither is valid) and the slot the next store must go to; store: writes mark into that slot (then
 * the caller flips its slot to 1 - slot). Same results as below. */
int iote_mark_load(iote_store_read_fn read, void *ctx, uint16_t offset, uint32_t *mark, uint8_t *next_slot);
int iote_mark_store(iote_store_write_fn write, void *ctx, uint16_t offset, uint8_t slot, uint32_t mark);

/* Reads both slots and resumes at the larger valid mark (0 when neither is valid). k >= 1, else
 * IOTE_ERR_ARGUMENT. IOTE_COUNTER_STORAGE if a slot cannot be read (the counter is then unusable). */
int iote_counter_begin(iote_counter *c, int32_t k, iote_store_read_fn read, iote_store_write_fn write, void *ctx,
                       uint16_t offset);
/* The next number; writes a new mark first when needed (a failed write hands out nothing). */
int iote_counter_next(iote_counter *c, uint32_t *value);
/* Never hand out a number below at_least from now on (after a resync answer, SPEC.md section 8). */
int iote_counter_raise(iote_counter *c, uint32_t at_least);

#ifdef __cplusplus
}
#endif
#endif
