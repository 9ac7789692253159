/*
 * iote-bench: host benchmark of one backend build (bench/c.py runs one per backend and reports the ratios).
 *
 * Seal and open of a reading from stdin (bench/c.py: 80 bytes; compact form, 16-byte secret) through the library, against a "raw" loop
 * that does the same cryptographic work written directly on the same crypto library the way its documentation
 * suggests for repeated use: AES-128-CBC on a context keyed once, HMAC-SHA-256 on a keyed context reset per
 * message, the same 16-byte tag over the same bytes, strict PKCS#7 on open. The raw loop does no base64 and
 * builds no text; the library does both, so vs_raw < 1 is the cost of the envelope around the crypto.
 * With OpenSSL it also times the library with its per-key EVP contexts taken away (the one-shot path every call
 * used before), and the lean form; and the time to refuse hostile inputs (issue 10 F1).
 *
 * Timing: clock_gettime(CLOCK_MONOTONIC); each round times a batch of every kind in turn (interleaved, the order
 * rotating), a batch lasting about 1 ms, 201 rounds. Rates are medians over the rounds; a ratio is the median of
 * the ratios taken within each round (the two batches a few milliseconds apart), which a loaded machine
 * disturbs far less than a ratio of two medians. Output: one JSON object on stdout.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iote_backend.h"
#include "iotenvelope.h"

#if defined(IOTE_BACKEND_OPENSSL)
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#elif defined(IOTE_BACKEND_MBEDTLS)
#include <mbedtls/aes.h>
#include <mbedtls/md.h>
#elif defined(IOTE_BACKEND_BEARSSL)
#include <bearssl/bearssl.h>
#else
#include "iote_aes.h" /* IOTE_OWN_AES: which AES the tiny-AES-c backend takes */
#include "iote_sha256.h"
#if !IOTE_OWN_AES
#define CBC 1
#define ECB 0
#define CTR 0
#define AES_ctx iote_tinyaes128_ctx
#define AES_init_ctx iote_tinyaes128_init_ctx
#define AES_init_ctx_iv iote_tinyaes128_init_ctx_iv
#define AES_ctx_set_iv iote_tinyaes128_ctx_set_iv
#define AES_CBC_encrypt_buffer iote_tinyaes128_cbc_encrypt_buffer
#define AES_CBC_decrypt_buffer iote_tinyaes128_cbc_decrypt_buffer
#include "aes.h"
#endif
#endif

#define MSG_MAX 200
#define CT_MAX 208
#define ROUNDS 201

static const uint8_t SECRET[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t IV[16] = {7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static uint8_t MSG[MSG_MAX];
static size_t MSG_LEN, CT_LEN;
static iote_keys keys;
static iote_fields fields;
static char sealed[256];
static size_t sealed_len;
static volatile uint8_t sink;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "iote-bench: %s failed\n", what);
    exit(1);
}

/* ---- the library ------------------------------------------------------------------------------------------ */

static void lib_seal(void)
{
    char out[256];
    size_t n = 0;
    if (iote_seal(&keys, &fields, IV, MSG, MSG_LEN, IOTE_FMT_COMPACT, out, sizeof out, &n) != IOTE_OK) {
        die("iote_seal");
    }
    sink ^= (uint8_t)out[n - 1];
}

static void lib_open(void)
{
    uint8_t buf[256];
    iote_header h;
    size_t n = 0;
    if (iote_open(&keys, IOTE_UP, sealed, sealed_len, IOTE_FMT_COMPACT, buf, sizeof buf, &h, &n) != IOTE_OK ||
        n != MSG_LEN) {
        die("iote_open");
    }
    sink ^= buf[0];
}

#if IOTE_WITH_LEAN
static iote_lean_keys lean_keys;
static uint8_t lean_sealed[256];
static size_t lean_len;

static void lean_seal(void)
{
    uint8_t out[256];
    size_t n = 0;
    if (iote_lean_seal(&lean_keys, &fields, MSG, MSG_LEN, IOTE_FMT_LEAN_RAW, out, sizeof out, &n) != IOTE_OK) {
        die("iote_lean_seal");
    }
    sink ^= out[n - 1];
}

static void lean_open(void)
{
    uint8_t buf[256];
    iote_header h;
    size_t n = 0;
    if (iote_lean_open(&lean_keys, IOTE_UP, fields.dev, fields.dev_len, lean_sealed, lean_len, IOTE_FMT_LEAN_RAW, buf,
                       sizeof buf, &h, &n) != IOTE_OK || n != MSG_LEN) {
        die("iote_lean_open");
    }
    sink ^= buf[0];
}
#endif

#if defined(IOTE_BE_KEYCTX)
/* the same keys without their per-key contexts: every call builds one-shot contexts, as before */
static iote_keys oneshot_keys;

static void oneshot_seal(void)
{
    char out[256];
    size_t n = 0;
    if (iote_seal(&oneshot_keys, &fields, IV, MSG, MSG_LEN, IOTE_FMT_COMPACT, out, sizeof out, &n) != IOTE_OK) {
        die("iote_seal (one-shot)");
    }
    sink ^= (uint8_t)out[n - 1];
}

static void oneshot_open(void)
{
    uint8_t buf[256];
    iote_header h;
    size_t n = 0;
    if (iote_open(&oneshot_keys, IOTE_UP, sealed, sealed_len, IOTE_FMT_COMPACT, buf, sizeof buf, &h, &n) !=
        IOTE_OK) {
        die("iote_open (one-shot)");
    }
    sink ^= buf[0];
}
#endif

/* ---- the raw loop: the same AES-CBC + HMAC written on the library directly ------------------------------ */

static uint8_t prefix[64]; /* version .. ts of the envelope: what the MAC covers before iv || ct */
static size_t prefix_len;
static uint8_t raw_ct[CT_MAX]; /* the ciphertext of the sealed envelope and its tag, for the raw open */
static uint8_t raw_tag[16];

static int pkcs7_ok(const uint8_t *p, size_t len)
{
    uint8_t pad = p[len - 1], bad = 0;
    size_t i;
    if (pad < 1 || pad > 16) {
        return 0;
    }
    for (i = 1; i <= 16; i++) {
        bad |= (uint8_t)((uint8_t)(0u - (uint8_t)(i <= pad)) & (p[len - i] ^ pad));
    }
    return bad == 0;
}

#if defined(IOTE_BACKEND_OPENSSL)
static EVP_CIPHER_CTX *raw_enc, *raw_dec;
static EVP_MAC_CTX *raw_mac;

static void raw_init(const uint8_t *k_enc, const uint8_t *k_mac)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    raw_enc = EVP_CIPHER_CTX_new();
    raw_dec = EVP_CIPHER_CTX_new();
    raw_mac = EVP_MAC_CTX_new(mac);
    if (EVP_EncryptInit_ex(raw_enc, EVP_aes_128_cbc(), NULL, k_enc, IV) != 1 ||
        EVP_DecryptInit_ex(raw_dec, EVP_aes_128_cbc(), NULL, k_enc, IV) != 1 ||
        EVP_CIPHER_CTX_set_padding(raw_enc, 0) != 1 || EVP_CIPHER_CTX_set_padding(raw_dec, 0) != 1 ||
        EVP_MAC_init(raw_mac, k_mac, 32, params) != 1) {
        die("raw OpenSSL setup");
    }
    EVP_MAC_free(mac);
}

static void raw_cbc(int decrypt, uint8_t *buf)
{
    EVP_CIPHER_CTX *c = decrypt ? raw_dec : raw_enc;
    int outl = 0;
    if (EVP_CipherInit_ex(c, NULL, NULL, NULL, IV, -1) != 1 ||
        EVP_CipherUpdate(c, buf, &outl, buf, (int)CT_LEN) != 1) {
        die("raw AES");
    }
}

static void raw_hmac(const uint8_t *ct, uint8_t out[32])
{
    size_t n = 0;
    if (EVP_MAC_init(raw_mac, NULL, 0, NULL) != 1 || EVP_MAC_update(raw_mac, prefix, prefix_len) != 1 ||
        EVP_MAC_update(raw_mac, IV, 16) != 1 || EVP_MAC_update(raw_mac, ct, CT_LEN) != 1 ||
        EVP_MAC_final(raw_mac, out, &n, 32) != 1) {
        die("raw HMAC");
    }
}
#define RAW_EQUAL(a, b) (CRYPTO_memcmp((a), (b), 16) == 0)
#elif defined(IOTE_BACKEND_MBEDTLS)
static mbedtls_aes_context raw_enc, raw_dec;
static mbedtls_md_context_t raw_mac;

static void raw_init(const uint8_t *k_enc, const uint8_t *k_mac)
{
    mbedtls_aes_init(&raw_enc);
    mbedtls_aes_init(&raw_dec);
    mbedtls_md_init(&raw_mac);
    if (mbedtls_aes_setkey_enc(&raw_enc, k_enc, 128) != 0 || mbedtls_aes_setkey_dec(&raw_dec, k_enc, 128) != 0 ||
        mbedtls_md_setup(&raw_mac, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0 ||
        mbedtls_md_hmac_starts(&raw_mac, k_mac, 32) != 0) {
        die("raw mbedTLS setup");
    }
}

static void raw_cbc(int decrypt, uint8_t *buf)
{
    unsigned char iv[16];
    memcpy(iv, IV, 16);
    if (mbedtls_aes_crypt_cbc(decrypt ? &raw_dec : &raw_enc, decrypt ? MBEDTLS_AES_DECRYPT : MBEDTLS_AES_ENCRYPT,
                              CT_LEN, iv, buf, buf) != 0) {
        die("raw AES");
    }
}

static void raw_hmac(const uint8_t *ct, uint8_t out[32])
{
    if (mbedtls_md_hmac_reset(&raw_mac) != 0 || mbedtls_md_hmac_update(&raw_mac, prefix, prefix_len) != 0 ||
        mbedtls_md_hmac_update(&raw_mac, IV, 16) != 0 || mbedtls_md_hmac_update(&raw_mac, ct, CT_LEN) != 0 ||
        mbedtls_md_hmac_finish(&raw_mac, out) != 0) {
        die("raw HMAC");
    }
}
#define RAW_EQUAL(a, b) (iote_ct_equal((a), (b), 16))
#elif defined(IOTE_BACKEND_BEARSSL)
static br_aes_ct_cbcenc_keys raw_enc;
static br_aes_ct_cbcdec_keys raw_dec;
static br_hmac_key_context raw_mac;

static void raw_init(const uint8_t *k_enc, const uint8_t *k_mac)
{
    br_aes_ct_cbcenc_init(&raw_enc, k_enc, 16);
    br_aes_ct_cbcdec_init(&raw_dec, k_enc, 16);
    br_hmac_key_init(&raw_mac, &br_sha256_vtable, k_mac, 32);
}

static void raw_cbc(int decrypt, uint8_t *buf)
{
    unsigned char iv[16];
    memcpy(iv, IV, 16);
    if (decrypt) {
        br_aes_ct_cbcdec_run(&raw_dec, iv, buf, CT_LEN);
    } else {
        br_aes_ct_cbcenc_run(&raw_enc, iv, buf, CT_LEN);
    }
}

static void raw_hmac(const uint8_t *ct, uint8_t out[32])
{
    br_hmac_context h;
    br_hmac_init(&h, &raw_mac, 0);
    br_hmac_update(&h, prefix, prefix_len);
    br_hmac_update(&h, IV, 16);
    br_hmac_update(&h, ct, CT_LEN);
    br_hmac_out(&h, out);
}
#define RAW_EQUAL(a, b) (iote_ct_equal((a), (b), 16))
#else
/* tiny-AES-c (keyed once, IV set per message), or with IOTE_OWN_AES this project's AES (iote_aes_cbc expands the
 * key on every call, as the library's backend does), and the project's own SHA-256 with the HMAC key blocks
 * hashed once */
#if IOTE_OWN_AES
static uint8_t raw_key[16];
#else
static struct AES_ctx raw_aes;
#endif
static uint8_t raw_inner[32], raw_outer[32];

static void raw_init(const uint8_t *k_enc, const uint8_t *k_mac)
{
    iote_sha256_ctx c;
    uint8_t block[64], ignore[32];
    int i, j;
#if IOTE_OWN_AES
    memcpy(raw_key, k_enc, 16);
#else
    AES_init_ctx(&raw_aes, k_enc);
#endif
    for (i = 0; i < 2; i++) {
        for (j = 0; j < 64; j++) {
            block[j] = (uint8_t)((j < 32 ? k_mac[j] : 0) ^ (i ? 0x5c : 0x36));
        }
        iote_sha256_init(&c);
        iote_sha256_update(&c, block, 64);
        iote_sha256_save(&c, i ? raw_outer : raw_inner);
        iote_sha256_final(&c, ignore);
    }
}

static void raw_cbc(int decrypt, uint8_t *buf)
{
#if IOTE_OWN_AES
    if (iote_aes_cbc(decrypt, raw_key, 16, IV, buf, CT_LEN) != 0) {
        die("raw AES");
    }
#else
    AES_ctx_set_iv(&raw_aes, IV);
    if (decrypt) {
        AES_CBC_decrypt_buffer(&raw_aes, buf, CT_LEN);
    } else {
        AES_CBC_encrypt_buffer(&raw_aes, buf, CT_LEN);
    }
#endif
}

static void raw_hmac(const uint8_t *ct, uint8_t out[32])
{
    iote_sha256_ctx c;
    iote_sha256_resume(&c, raw_inner);
    iote_sha256_update(&c, prefix, prefix_len);
    iote_sha256_update(&c, IV, 16);
    iote_sha256_update(&c, ct, CT_LEN);
    iote_sha256_final(&c, out);
    iote_sha256_resume(&c, raw_outer);
    iote_sha256_update(&c, out, 32);
    iote_sha256_final(&c, out);
}
#define RAW_EQUAL(a, b) (iote_ct_equal((a), (b), 16))
#endif

static void raw_seal(void)
{
    uint8_t buf[CT_MAX], tag[32];
    memcpy(buf, MSG, MSG_LEN);
    memset(buf + MSG_LEN, CT_LEN - MSG_LEN, CT_LEN - MSG_LEN);
    raw_cbc(0, buf);
    raw_hmac(buf, tag);
    sink ^= (uint8_t)(buf[0] ^ tag[15]);
}

static void raw_open(void)
{
    uint8_t buf[CT_MAX], tag[32];
    raw_hmac(raw_ct, tag);
    if (!RAW_EQUAL(tag, raw_tag)) {
        die("raw open: tag");
    }
    memcpy(buf, raw_ct, CT_LEN);
    raw_cbc(1, buf);
    if (!pkcs7_ok(buf, CT_LEN) || memcmp(buf, MSG, MSG_LEN) != 0) {
        die("raw open: plaintext");
    }
    sink ^= buf[0];
}

/* ---- timing ----------------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*fn)(void);
    long batch;
    double rate[ROUNDS];
} kind;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* the median over the rounds of a's rate / b's rate in the same round */
static double paired(const kind *a, const kind *b)
{
    double r[ROUNDS];
    int i;
    for (i = 0; i < ROUNDS; i++) {
        r[i] = a->rate[i] / b->rate[i];
    }
    return median(r, ROUNDS);
}

static void calibrate(kind *k)
{
    long n = 16;
    for (;;) {
        double t0 = now_s(), dt;
        long i;
        for (i = 0; i < n; i++) {
            k->fn();
        }
        dt = now_s() - t0;
        if (dt > 0.005) {
            k->batch = (long)((double)n * 0.001 / dt) + 1;
            return;
        }
        n *= 2;
    }
}

/* time to refuse one hostile input, median of a few, in microseconds */
static double refuse_us(const char *text, size_t len, int fmt)
{
    static uint8_t *buf;
    double t[9];
    int r;
    if (buf == NULL) {
        buf = (uint8_t *)malloc(1200000);
    }
    for (r = 0; r < 9; r++) {
        iote_header h;
        size_t n;
        double t0 = now_s();
        if (iote_open(&keys, IOTE_UP, text, len, fmt, buf, 1200000, &h, &n) != IOTE_ERR_MALFORMED) {
            die("hostile input not refused as malformed");
        }
        t[r] = (now_s() - t0) * 1e6;
    }
    return median(t, 9);
}

int main(void)
{
    kind kinds[8];
    int nk = 0, r, i;
    uint8_t raw[256];
    size_t raw_len = 0;
    char *hostile;
    size_t pos;

    /* the reading on stdin (bench/c.py sends the one bench/seal_open.py uses) */
    MSG_LEN = fread(MSG, 1, sizeof MSG, stdin);
    CT_LEN = (MSG_LEN / 16 + 1) * 16;
    if (iote_keys_init(&keys, SECRET, 16) != IOTE_OK) {
        die("iote_keys_init");
    }
    fields.direction = IOTE_UP;
    fields.type = IOTE_TYPE_DATA;
    fields.dev = "sensor-01";
    fields.dev_len = 9;
    fields.seq = 42;
    fields.ts = 1763900000u;
    if (iote_seal(&keys, &fields, IV, MSG, MSG_LEN, IOTE_FMT_COMPACT, sealed, sizeof sealed, &sealed_len) != IOTE_OK ||
        iote_b64url_decode(sealed, sealed_len, raw, sizeof raw, &raw_len) != IOTE_OK) {
        die("setup seal");
    }
    prefix_len = 12 + fields.dev_len;
    memcpy(prefix, raw, prefix_len);
    memcpy(raw_ct, raw + prefix_len + 16, CT_LEN);
    memcpy(raw_tag, raw + raw_len - 16, 16);
    {
        /* the raw loop's keys are the library's derived K_enc / K_mac (HKDF-SHA-256, SPEC.md 2.2) */
        uint8_t prk[32], k[32];
        iote_hmac_sha256(NULL, 0, SECRET, 16, prk);
        iote_hmac_sha256(prk, 32, (const uint8_t *)"iotenvelope v1 enc\x01", 19, k);
        {
            uint8_t k_mac[32];
            iote_hmac_sha256(prk, 32, (const uint8_t *)"iotenvelope v1 mac\x01", 19, k_mac);
            raw_init(k, k_mac);
        }
        {
            uint8_t tag[32];
            raw_hmac(raw_ct, tag); /* the raw loop computes the library's tag */
            if (memcmp(tag, raw_tag, 16) != 0) {
                die("raw HMAC differs from the envelope's tag");
            }
        }
    }
#define ADD(n, f)                                                                                                  \
    do {                                                                                                           \
        kinds[nk].name = (n);                                                                                      \
        kinds[nk].fn = (f);                                                                                        \
        nk++;                                                                                                      \
    } while (0)
    ADD("seal", lib_seal);
    ADD("raw_seal", raw_seal);
    ADD("open", lib_open);
    ADD("raw_open", raw_open);
#if IOTE_WITH_LEAN
    if (iote_lean_keys_init(&lean_keys, SECRET, 16) != IOTE_OK ||
        iote_lean_seal(&lean_keys, &fields, MSG, MSG_LEN, IOTE_FMT_LEAN_RAW, lean_sealed, sizeof lean_sealed,
                       &lean_len) != IOTE_OK) {
        die("lean setup");
    }
    ADD("lean_seal", lean_seal);
    ADD("lean_open", lean_open);
#endif
#if defined(IOTE_BE_KEYCTX)
    if (iote_keys_init(&oneshot_keys, SECRET, 16) != IOTE_OK) {
        die("iote_keys_init");
    }
    iote_be_keys_free(&oneshot_keys.be);
    ADD("oneshot_seal", oneshot_seal);
    ADD("oneshot_open", oneshot_open);
#endif
    for (i = 0; i < nk; i++) {
        calibrate(&kinds[i]);
    }
    for (r = 0; r < ROUNDS; r++) {
        for (i = 0; i < nk; i++) {
            int k = (i + r) % nk; /* rotate the order every round */
            long j;
            double t0 = now_s();
            for (j = 0; j < kinds[k].batch; j++) {
                kinds[k].fn();
            }
            kinds[k].rate[r] = (double)kinds[k].batch / (now_s() - t0);
        }
    }
    printf("{\"backend\": \"%s\", \"msg_bytes\": %u, \"rounds\": %d, \"sealed\": \"%s\"", iote_be_name(),
           (unsigned)MSG_LEN, ROUNDS, sealed);
    {
        double med[8];
        for (i = 0; i < nk; i++) {
            double copy[ROUNDS];
            memcpy(copy, kinds[i].rate, sizeof copy);
            med[i] = median(copy, ROUNDS);
            printf(", \"%s_per_s\": %.0f", kinds[i].name, med[i]);
        }
        printf(", \"seal_us\": %.3f, \"open_us\": %.3f, \"raw_seal_us\": %.3f, \"raw_open_us\": %.3f", 1e6 / med[0],
               1e6 / med[2], 1e6 / med[1], 1e6 / med[3]);
        printf(", \"vs_raw_seal\": %.3f, \"vs_raw_open\": %.3f", paired(&kinds[0], &kinds[1]),
               paired(&kinds[2], &kinds[3]));
#if defined(IOTE_BE_KEYCTX)
        printf(", \"keyctx_vs_oneshot_seal\": %.3f, \"keyctx_vs_oneshot_open\": %.3f",
               paired(&kinds[0], &kinds[nk - 2]), paired(&kinds[2], &kinds[nk - 1]));
#endif
    }
    /* issue 10 F1: time to refuse hostile inputs */
    hostile = (char *)malloc(1200000);
    pos = 1;
    hostile[0] = '{';
    for (i = 0; i < 100000; i++) {
        pos += (size_t)sprintf(hostile + pos, "%s\"m%05d\":1", i ? "," : "", i);
    }
    hostile[pos++] = '}';
    printf(", \"refuse_us\": {\"json_1.1MB_100000_members\": %.2f", refuse_us(hostile, pos, IOTE_FMT_AUTO));
    printf(", \"json_64KiB_cut_of_it\": %.2f", refuse_us(hostile, IOTE_MAX_TEXT, IOTE_FMT_JSON));
    pos = 1;
    for (i = 0; pos + 8 < IOTE_MAX_TEXT; i++) {
        memcpy(hostile + pos, "\"v\": 1, ", 8);
        pos += 8;
    }
    printf(", \"json_64KiB_repeated_member\": %.2f", refuse_us(hostile, pos, IOTE_FMT_JSON));
    memcpy(hostile, "{\"v\": ", 6);
    memset(hostile + 6, '[', 60000);
    printf(", \"json_60000_nested\": %.2f", refuse_us(hostile, 60006, IOTE_FMT_JSON));
    memset(hostile, 'A', 1000000);
    printf(", \"compact_1MB\": %.2f", refuse_us(hostile, 1000000, IOTE_FMT_AUTO));
    memset(hostile, 'A', IOTE_MAX_TEXT);
    hostile[IOTE_MAX_TEXT - 2] = '*';
    printf(", \"compact_64KiB_bad_char_at_end\": %.2f}", refuse_us(hostile, IOTE_MAX_TEXT, IOTE_FMT_COMPACT));
    free(hostile);
    printf(", \"check\": %u}\n", (unsigned)sink);
    iote_keys_wipe(&keys);
    return 0;
}
