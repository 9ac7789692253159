/* K_iv-derived IVs and the two-slot boot-safe counter (SPEC.md sections 2.2 and 7); see iote_device.h. */
#include "iote_device.h"

#include <string.h>

#include "iote_backend.h"
#include "iotenvelope.h"

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) {
        *v++ = 0;
    }
}

int iote_iv_key(const uint8_t *secret, size_t secret_len, uint8_t k_iv[32])
{
    /* HKDF-SHA-256 with an empty salt (an empty HMAC key pads to the same block as 32 zero bytes), then
     * HKDF-Expand with info "iotenvelope v1 iv" and the counter byte 0x01, L = 32 (out may alias msg) */
    static const char info[] = "iotenvelope v1 iv\x01";
    uint8_t prk[32];
    if (secret == NULL || k_iv == NULL) {
        return IOTE_ERR_ARGUMENT;
    }
    if (secret_len != 16 && secret_len != 32) {
        memset(k_iv, 0, 32);
        return IOTE_ERR_BAD_KEY;
    }
    memset(prk, 0, sizeof prk);
    iote_hmac_sha256(prk, sizeof prk, secret, secret_len, prk); /* salt = 32 zero bytes */
    iote_hmac_sha256(prk, sizeof prk, (const uint8_t *)info, sizeof info - 1, k_iv);
    wipe(prk, sizeof prk);
    return IOTE_OK;
}

void iote_iv_from_counter(const uint8_t k_iv[32], uint32_t c, uint8_t iv[16])
{
    uint8_t msg[4];
    uint8_t mac[32];
    put_u32be(msg, c);
    iote_hmac_sha256(k_iv, 32, msg, sizeof msg, mac);
    memcpy(iv, mac, 16);
    wipe(mac, sizeof mac);
}

/* slot = u32be(mark) || SHA-256("iote mark" || slot index || u32be(mark))[0:4] */
static void slot_encode(uint8_t out[IOTE_COUNTER_SLOT_LEN], uint8_t index, uint32_t mark)
{
    static const char label[] = "iote mark";
    iote_be_sha256_ctx h;
    uint8_t digest[32];
    put_u32be(out, mark);
    iote_be_sha256_init(&h);
    iote_be_sha256_update(&h, (const uint8_t *)label, sizeof label - 1);
    iote_be_sha256_update(&h, &index, 1);
    iote_be_sha256_update(&h, out, 4);
    if (iote_be_sha256_final(&h, digest) != 0) {
        memset(digest, 0, sizeof digest);
        digest[0] = (uint8_t)~out[0]; /* never a valid check value when the hash failed */
    }
    memcpy(out + 4, digest, 4);
}

/* 1 and *mark when the slot's bytes hold a mark with a valid check value */
static int slot_decode(const uint8_t raw[IOTE_COUNTER_SLOT_LEN], uint8_t index, uint32_t *mark)
{
    uint8_t want[IOTE_COUNTER_SLOT_LEN];
    *mark = get_u32be(raw);
    slot_encode(want, index, *mark);
    return iote_ct_equal(want, raw, IOTE_COUNTER_SLOT_LEN);
}

int iote_mark_load(iote_store_read_fn read, void *ctx, uint16_t offset, uint32_t *mark, uint8_t *next_slot)
{
    uint8_t raw[IOTE_COUNTER_SLOT_LEN];
    uint32_t m[2] = {0, 0};
    int valid[2];
    uint8_t i;
    if (read == NULL || mark == NULL || next_slot == NULL || offset > 0xFFFFu - IOTE_COUNTER_STORE_LEN) {
        return IOTE_ERR_ARGUMENT;
    }
    for (i = 0; i < 2; i++) {
        if (read(ctx, (uint16_t)(offset + i * IOTE_COUNTER_SLOT_LEN), raw, IOTE_COUNTER_SLOT_LEN) != 0) {
            return IOTE_COUNTER_STORAGE;
        }
        valid[i] = slot_decode(raw, i, &m[i]);
    }
    /* the larger valid mark; the next one goes to the other slot */
    if (valid[0] && (!valid[1] || m[0] >= m[1])) {
        *mark = m[0];
        *next_slot = 1;
    } else if (valid[1]) {
        *mark = m[1];
        *next_slot = 0;
    } else {
        *mark = 0;
        *next_slot = 0;
    }
    return IOTE_OK;
}

int iote_mark_store(iote_store_write_fn write, void *ctx, uint16_t offset, uint8_t slot, uint32_t mark)
{
    uint8_t raw[IOTE_COUNTER_SLOT_LEN];
    if (write == NULL || slot > 1 || offset > 0xFFFFu - IOTE_COUNTER_STORE_LEN) {
        return IOTE_ERR_ARGUMENT;
    }
    slot_encode(raw, slot, mark);
    return write(ctx, (uint16_t)(offset + slot * IOTE_COUNTER_SLOT_LEN), raw, IOTE_COUNTER_SLOT_LEN) == 0
               ? IOTE_OK
               : IOTE_COUNTER_STORAGE;
}

int iote_counter_begin(iote_counter *c, int32_t k, iote_store_read_fn read, iote_store_write_fn write, void *ctx,
                       uint16_t offset)
{
    int rc;
    if (c == NULL) {
        return IOTE_ERR_ARGUMENT;
    }
    memset(c, 0, sizeof *c);
    if (k < 1 || write == NULL) {
        return IOTE_ERR_ARGUMENT;
    }
    rc = iote_mark_load(read, ctx, offset, &c->limit, &c->slot);
    if (rc != IOTE_OK) {
        return rc;
    }
    c->read = read;
    c->write = write;
    c->ctx = ctx;
    c->offset = offset;
    c->k = k;
    c->next = c->limit;
    c->ready = 1;
    return IOTE_OK;
}

int iote_counter_next(iote_counter *c, uint32_t *value)
{
    if (c == NULL || value == NULL || !c->ready) {
        return IOTE_ERR_ARGUMENT;
    }
    if (c->next == 0xFFFFFFFFul) {
        return IOTE_COUNTER_EXHAUSTED;
    }
    if (c->next >= c->limit) {
        uint32_t mark = c->next > 0xFFFFFFFFul - (uint32_t)c->k ? 0xFFFFFFFFul : c->next + (uint32_t)c->k;
        if (iote_mark_store(c->write, c->ctx, c->offset, c->slot, mark) != IOTE_OK) {
            return IOTE_COUNTER_STORAGE; /* the slot may be torn now: the other one still holds `limit` */
        }
        c->limit = mark;
        c->slot ^= 1u;
    }
    *value = c->next++;
    return IOTE_OK;
}

int iote_counter_raise(iote_counter *c, uint32_t at_least)
{
    if (c == NULL || !c->ready) {
        return IOTE_ERR_ARGUMENT;
    }
    if (at_least > c->next) {
        c->next = at_least; /* a mark covering it is written before it is handed out */
    }
    return IOTE_OK;
}
