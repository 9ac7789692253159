/*
 * Tests of iote_device.c: the boot-safe counter under power cuts, and K_iv / derived IVs (tests/test_c.py
 * compares the printed K_iv and IVs with Python's HKDF/HMAC).
 *
 * Power cuts: a simulated EEPROM (32 bytes, starts blank 0xFF) whose write callback can be made to fail at the
 * n-th write in one of these ways, after which the "device" is dead until the next boot:
 *   drop      nothing of the write reaches the EEPROM;
 *   tear j    the first j bytes (1..7) are written, the rest keep their old values;
 *   smear j   the first j bytes are written and byte j is left half-programmed (old & ~new bits: 0x00..);
 * For every write of a reference history (BOOTS boots of TAKE numbers each, with K = 1, 3 and 7) and every
 * failure mode, the history is replayed with that one failure, then booted on without failures. Every number
 * handed out over all boots must be strictly larger than every earlier one (nothing repeats), and a boot must
 * resume at most K + 1 above the last number handed out before the cut (bounded loss).
 * Output: "kiv <hex>", "iv <c> <hex>" lines, "cuts <n> boots <n> numbers <n>" and "counter: N passed, 0 failed".
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iote_backend.h"
#include "iote_device.h"
#include "iotenvelope.h"

static int checks;
static int failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        checks++;                                                                                            \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                       \
        }                                                                                                    \
    } while (0)

#define EE_SIZE 32
#define OFFSET 8 /* slots at 8..23: the counter must not touch anything else */

enum { FAIL_NONE, FAIL_DROP, FAIL_TEAR, FAIL_SMEAR };

typedef struct {
    uint8_t mem[EE_SIZE];
    long writes;    /* callback writes so far */
    long fail_at;   /* which write fails (-1: none) */
    int mode;
    int keep;       /* bytes of the failing write that land */
    int dead;       /* 1 after the cut: no further access */
    int read_fails; /* make reads fail (storage error test) */
    jmp_buf cut;
} eeprom;

static int ee_read(void *ctx, uint16_t off, uint8_t *buf, uint8_t len)
{
    eeprom *e = (eeprom *)ctx;
    if (e->read_fails || off + len > EE_SIZE) {
        return -1;
    }
    memcpy(buf, e->mem + off, len);
    return 0;
}

static int ee_write(void *ctx, uint16_t off, const uint8_t *buf, uint8_t len)
{
    eeprom *e = (eeprom *)ctx;
    int i;
    CHECK(off >= OFFSET && off + len <= OFFSET + IOTE_COUNTER_STORE_LEN);
    if (e->writes++ == e->fail_at) {
        if (e->mode == FAIL_TEAR || e->mode == FAIL_SMEAR) {
            for (i = 0; i < e->keep; i++) {
                e->mem[off + i] = buf[i];
            }
            if (e->mode == FAIL_SMEAR) {
                e->mem[off + e->keep] &= (uint8_t)~buf[e->keep];
            }
        }
        e->dead = 1;
        longjmp(e->cut, 1);
    }
    memcpy(e->mem + off, buf, len);
    return 0;
}

#define BOOTS 5
#define TAKE 5

/* Runs BOOTS boots from the current EEPROM, TAKE numbers each, recording every number handed out in order.
 * Returns the count recorded; *cut_boot gets the boot a failure ended (or -1). */
static int run_history(eeprom *e, int32_t k, uint32_t *got, int *first_of_boot, int *cut_boot)
{
    int n = 0;
    int boot;
    *cut_boot = -1;
    for (boot = 0; boot < BOOTS; boot++) {
        volatile int vn = n;
        iote_counter c;
        first_of_boot[boot] = n;
        e->dead = 0;
        if (setjmp(e->cut) == 0) {
            int t;
            CHECK(iote_counter_begin(&c, k, ee_read, ee_write, e, OFFSET) == IOTE_OK);
            for (t = 0; t < TAKE; t++) {
                uint32_t v;
                CHECK(iote_counter_next(&c, &v) == IOTE_OK);
                got[vn] = v;
                vn = vn + 1;
            }
        } else {
            *cut_boot = boot;
        }
        n = vn;
    }
    return n;
}

static long cuts;
static long boots_run;
static long numbers;

static void check_history(const uint32_t *got, int n, const int *first_of_boot, int32_t k)
{
    int i;
    int b;
    for (i = 1; i < n; i++) {
        CHECK(got[i] > got[i - 1]); /* never a repeat, never backwards */
    }
    for (b = 1; b < BOOTS; b++) {
        int f = first_of_boot[b];
        if (f > 0 && f < n) { /* the gap a reboot leaves: at most K + 1 */
            CHECK(got[f] - got[f - 1] <= (uint32_t)k + 1u);
        }
    }
    boots_run += BOOTS;
    numbers += n;
}

static void power_cuts(int32_t k)
{
    eeprom ref;
    uint32_t got[BOOTS * TAKE];
    int first[BOOTS];
    int cut_boot;
    long total;
    long w;
    int n;

    memset(&ref, 0, sizeof ref);
    memset(ref.mem, 0xFF, sizeof ref.mem);
    ref.fail_at = -1;
    n = run_history(&ref, k, got, first, &cut_boot);
    CHECK(n == BOOTS * TAKE && cut_boot == -1);
    CHECK(got[0] == 0);
    check_history(got, n, first, k);
    total = ref.writes;
    CHECK(total >= BOOTS); /* at least one mark per boot */

    for (w = 0; w < total; w++) {
        int mode;
        for (mode = FAIL_DROP; mode <= FAIL_SMEAR; mode++) {
            int keep_max = mode == FAIL_DROP ? 0 : (int)IOTE_COUNTER_SLOT_LEN - 1;
            int keep;
            for (keep = mode == FAIL_DROP ? 0 : 1; keep <= keep_max; keep++) {
                eeprom e;
                int i;
                memset(&e, 0, sizeof e);
                memset(e.mem, 0xFF, sizeof e.mem);
                e.fail_at = w;
                e.mode = mode;
                e.keep = keep;
                n = run_history(&e, k, got, first, &cut_boot);
                CHECK(cut_boot >= 0);
                check_history(got, n, first, k);
                for (i = 0; i < OFFSET; i++) { /* bytes outside the two slots untouched */
                    CHECK(e.mem[i] == 0xFF && e.mem[OFFSET + IOTE_COUNTER_STORE_LEN + i] == 0xFF);
                }
                cuts++;
            }
        }
    }
}

static void api_checks(void)
{
    eeprom e;
    iote_counter c;
    uint32_t v = 0;
    memset(&e, 0, sizeof e);
    memset(e.mem, 0xFF, sizeof e.mem);
    e.fail_at = -1;
    CHECK(iote_counter_begin(&c, 0, ee_read, ee_write, &e, OFFSET) == IOTE_ERR_ARGUMENT);
    CHECK(iote_counter_begin(&c, -5, ee_read, ee_write, &e, OFFSET) == IOTE_ERR_ARGUMENT);
    CHECK(iote_counter_next(&c, &v) == IOTE_ERR_ARGUMENT); /* refused begin leaves it unusable */
    CHECK(iote_counter_begin(&c, 4, NULL, ee_write, &e, OFFSET) == IOTE_ERR_ARGUMENT);
    CHECK(iote_counter_begin(NULL, 4, ee_read, ee_write, &e, OFFSET) == IOTE_ERR_ARGUMENT);
    e.read_fails = 1;
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_COUNTER_STORAGE);
    CHECK(iote_counter_next(&c, &v) == IOTE_ERR_ARGUMENT);
    e.read_fails = 0;

    /* blank EEPROM: 0; an all-zero EEPROM is not a valid mark either */
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0);
    memset(e.mem, 0, sizeof e.mem);
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 1);

    /* raise (resync): never below the answer, mark written before use; a reboot resumes above it */
    CHECK(iote_counter_raise(&c, 1000) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 1000);
    CHECK(iote_counter_raise(&c, 10) == IOTE_OK); /* lower: no effect */
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 1001);
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 1004);

    /* a mark bit flipped after writing: that slot is ignored, the other one counts */
    e.mem[OFFSET + 3] ^= 0x01;
    e.mem[OFFSET + IOTE_COUNTER_SLOT_LEN + 3] ^= 0x01;
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0); /* both damaged: start over (documented) */

    /* a slot copied into the other position does not validate there (the check value binds the slot) */
    memset(e.mem, 0xFF, sizeof e.mem);
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0); /* slot 0 := 4 */
    memcpy(e.mem + OFFSET + IOTE_COUNTER_SLOT_LEN, e.mem + OFFSET, IOTE_COUNTER_SLOT_LEN);
    e.mem[OFFSET] = 0xFF; /* slot 0 broken */
    CHECK(iote_counter_begin(&c, 4, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0);

    /* the end of the number space: 4294967294 is the last number */
    memset(e.mem, 0xFF, sizeof e.mem);
    CHECK(iote_counter_begin(&c, 7, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_raise(&c, 0xFFFFFFFDul) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0xFFFFFFFDul);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0xFFFFFFFEul);
    CHECK(iote_counter_next(&c, &v) == IOTE_COUNTER_EXHAUSTED);
    CHECK(iote_counter_begin(&c, 7, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_COUNTER_EXHAUSTED);

    /* a failed write hands out nothing; the retry succeeds */
    memset(e.mem, 0xFF, sizeof e.mem);
    CHECK(iote_counter_begin(&c, 2, ee_read, ee_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0);
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 1);
}

static int fail_write(void *ctx, uint16_t off, const uint8_t *buf, uint8_t len)
{
    (void)ctx;
    (void)off;
    (void)buf;
    (void)len;
    return -1;
}

static void write_failure(void)
{
    eeprom e;
    iote_counter c;
    uint32_t v = 77;
    memset(&e, 0, sizeof e);
    memset(e.mem, 0xFF, sizeof e.mem);
    e.fail_at = -1;
    CHECK(iote_counter_begin(&c, 3, ee_read, fail_write, &e, OFFSET) == IOTE_OK);
    CHECK(iote_counter_next(&c, &v) == IOTE_COUNTER_STORAGE && v == 77);
    c.write = ee_write;
    CHECK(iote_counter_next(&c, &v) == IOTE_OK && v == 0);
}

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
    size_t i;
    printf("%s", label);
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
    printf("\n");
}

static void iv_checks(void)
{
    static const uint32_t cs[] = {0, 1, 2, 255, 256, 0xFFFFFFFEul};
    uint8_t secret[32];
    uint8_t kiv[32];
    uint8_t iv[16];
    uint8_t iv2[16];
    size_t i;
    for (i = 0; i < sizeof secret; i++) {
        secret[i] = (uint8_t)i;
    }
    CHECK(iote_iv_key(secret, 15, kiv) == IOTE_ERR_BAD_KEY);
    CHECK(iote_iv_key(secret, 24, kiv) == IOTE_ERR_BAD_KEY);
    CHECK(iote_iv_key(NULL, 16, kiv) == IOTE_ERR_ARGUMENT);
    CHECK(iote_iv_key(secret, 32, kiv) == IOTE_OK);
    print_hex("kiv32 ", kiv, 32);
    CHECK(iote_iv_key(secret, 16, kiv) == IOTE_OK);
    print_hex("kiv ", kiv, 32);
    for (i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        char label[32];
        iote_iv_from_counter(kiv, cs[i], iv);
        snprintf(label, sizeof label, "iv %lu ", (unsigned long)cs[i]);
        print_hex(label, iv, 16);
    }
    iote_iv_from_counter(kiv, 1, iv);
    iote_iv_from_counter(kiv, 2, iv2);
    CHECK(memcmp(iv, iv2, 16) != 0);
}

#if defined(IOTE_BACKEND_TINYAES)
/* iote_sha256's length encoding for counts no test message can reach: a context whose block count is set by
 * hand (as if that many blocks had been hashed from the initial state), then fill bytes 0xA5 and final.
 * "shalen <blocks> <fill> <digest>" lines, compared with a Python model of the compression in the test. */
static void sha_length_checks(void)
{
    static const uint32_t counts[] = {0, 1, 0x7FFFFFFFul, 0x80000001ul, 0xFFFFFFFFul};
    static const uint8_t fills[] = {0, 55, 56, 63};
    size_t a;
    size_t b;
    for (a = 0; a < sizeof counts / sizeof counts[0]; a++) {
        for (b = 0; b < sizeof fills; b++) {
            iote_sha256_ctx c;
            uint8_t out[32];
            char label[48];
            iote_sha256_init(&c);
            c.blocks = counts[a];
            memset(c.block, 0xA5, fills[b]);
            c.fill = fills[b];
            iote_sha256_final(&c, out);
            snprintf(label, sizeof label, "shalen %lu %u ", (unsigned long)counts[a], (unsigned)fills[b]);
            print_hex(label, out, 32);
        }
    }
}
#endif

int main(void)
{
#if defined(IOTE_BACKEND_TINYAES)
    sha_length_checks();
#endif
    iv_checks();
    api_checks();
    write_failure();
    power_cuts(1);
    power_cuts(3);
    power_cuts(7);
    printf("cuts %ld boots %ld numbers %ld\n", cuts, boots_run, numbers);
    printf("counter: %d passed, %d failed\n", checks - failures, failures);
    return failures != 0;
}
