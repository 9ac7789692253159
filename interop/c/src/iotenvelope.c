/*
 * iotenvelope envelope v1 in C99: key derivation, HMAC, strict base64url, strict PKCS#7, the compact, JSON and
 * lean encodings, seal/open, the device half of resync and a receiver replay window.
 *
 * Memory rules: no heap, no static buffers; every write is bounds-checked against the caller's stated
 * capacity before it happens; MACs are compared in constant time before any decryption.
 */
#include "iotenvelope.h"

#include <string.h>

#include "iote_backend.h"

/* Constant tables and strings live in flash on AVR (its const data would otherwise be copied to RAM). */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define FLASH PROGMEM
#define FLASH_STR(s) PSTR(s)
#define flash_byte(p) ((char)pgm_read_byte(p))
#else
#define FLASH
#define FLASH_STR(s) (s)
#define flash_byte(p) (*(const char *)(p))
#endif

/* for size: code called from several places is kept out of line (-flto would otherwise copy it into each) */
#if defined(__GNUC__)
#define IOTE_NOINLINE __attribute__((noinline))
#else
#define IOTE_NOINLINE
#endif

#define HDR_FIXED 12u /* version, direction, type, L, seq, ts */

/* SPEC.md section 5: a text longer than IOTE_MAX_TEXT is malformed. A 16-bit size_t (AVR) cannot say longer. */
#if SIZE_MAX > 65536u
#define OVER_TEXT_CAP(n) ((n) > IOTE_MAX_TEXT)
#else
#define OVER_TEXT_CAP(n) 0
#endif

#if defined(__AVR__) && !defined(IOTE_WITH_ERROR_NAMES)
/* On AVR the names would cost about 200 bytes of RAM: report the numbers (iote_err) instead. */
const char *iote_error_name(int err)
{
    (void)err;
    return "";
}
#else
static const char *const ERR_NAMES[] = {"ok", "malformed", "unsupported-version", "bad-key", "auth",
                                        "wrong-direction", "padding", "buffer", "argument", "backend",
                                        "error" /* 10: reserved */, "replay-duplicate", "replay-too-old",
                                        "stale"};

const char *iote_error_name(int err)
{
    if (err < 0 || (size_t)err >= sizeof ERR_NAMES / sizeof ERR_NAMES[0]) {
        return "error";
    }
    return ERR_NAMES[err];
}
#endif

/* Overwrite memory in a way the optimiser may not drop. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) {
        *v++ = 0;
    }
}

int iote_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        diff = (uint8_t)(diff | (a[i] ^ b[i]));
    }
    /* 1 when diff == 0, computed without a data-dependent branch */
    return (int)(1u & (((unsigned)diff - 1u) >> 8));
}

/* ---- HMAC-SHA-256 and HKDF (SPEC.md section 2.2) ------------------------------------------------------- */

/* HMAC as start (inner hash over key ^ ipad) / data / finish, so the message can arrive in pieces and no
 * 64-byte pad block is needed: the padded key goes in 16 bytes at a time. Keys here are at most 64 bytes. */
static void hmac_key_block(iote_be_sha256_ctx *c, const uint8_t *key, size_t key_len, uint8_t xor_byte)
{
    uint8_t chunk[16];
    size_t i;
    size_t j;
    for (i = 0; i < 64; i += 16) {
        for (j = 0; j < 16; j++) {
            chunk[j] = (uint8_t)((i + j < key_len ? key[i + j] : 0u) ^ xor_byte);
        }
        iote_be_sha256_update(c, chunk, 16);
    }
    wipe(chunk, sizeof chunk);
}

static int hmac_start(iote_be_sha256_ctx *c, const uint8_t *key, size_t key_len)
{
    int rc = iote_be_sha256_init(c);
    hmac_key_block(c, key, key_len, 0x36u);
    return rc;
}

/* Finishes the MAC and writes its first out_len (<= 32) bytes; always releases c. */
static int hmac_finish(iote_be_sha256_ctx *c, const uint8_t *key, size_t key_len, uint8_t *out, size_t out_len)
{
    uint8_t inner[32];
    int rc = iote_be_sha256_final(c, inner);
    rc |= iote_be_sha256_init(c);
    hmac_key_block(c, key, key_len, 0x5cu);
    iote_be_sha256_update(c, inner, sizeof inner);
    rc |= iote_be_sha256_final(c, inner);
    memcpy(out, inner, out_len);
    wipe(inner, sizeof inner);
    return rc == 0 ? IOTE_OK : IOTE_ERR_BACKEND;
}

static int hmac_once(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t *out,
                     size_t out_len)
{
    iote_be_sha256_ctx c;
    int rc = hmac_start(&c, key, key_len);
    iote_be_sha256_update(&c, msg, msg_len);
    return hmac_finish(&c, key, key_len, out, out_len) | (rc == 0 ? IOTE_OK : IOTE_ERR_BACKEND);
}

void iote_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t out[32])
{
    uint8_t hashed[32];
    if (key_len > 64) { /* RFC 2104: long keys are hashed first */
        iote_be_sha256_ctx c;
        int rc = iote_be_sha256_init(&c);
        iote_be_sha256_update(&c, key, key_len);
        if ((rc | iote_be_sha256_final(&c, hashed)) != 0) {
            memset(out, 0, 32);
            return;
        }
        key = hashed;
        key_len = 32;
    }
    if (hmac_once(key, key_len, msg, msg_len, out, 32) != IOTE_OK) {
        memset(out, 0, 32);
    }
    wipe(hashed, sizeof hashed);
}

/* HKDF info strings (18 bytes; lean: 23) followed by the HKDF-Expand counter byte 0x01 */
static const char INFO_ENC[] FLASH = "iotenvelope v1 enc\x01";
static const char INFO_MAC[] FLASH = "iotenvelope v1 mac\x01";
#if IOTE_WITH_LEAN
static const char INFO_LEAN_ENC[] FLASH = "iotenvelope v1 lean enc\x01";
static const char INFO_LEAN_MAC[] FLASH = "iotenvelope v1 lean mac\x01";
#endif

static void info_copy(uint8_t *dst, const char *flash_src, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        dst[i] = (uint8_t)flash_byte(flash_src + i);
    }
}

/* HKDF (SPEC.md section 2.2) with the two info strings of one form (info_len bytes each, counter included) */
#if defined(IOTE_BE_MIDSTATE)
/* Replaces K_mac by the states after its ipad and opad blocks. A function of its own, never inlined, so that its
 * hash context is not on the stack next to the ones hmac_once uses (with LTO that cost an Uno 250 B). */
static IOTE_NOINLINE int mac_midstates(iote_keys *keys)
{
    iote_be_sha256_ctx c;
    uint8_t k[32];
    uint8_t ignore[32];
    int rc;
    memcpy(k, keys->mac, sizeof k);
    rc = iote_be_sha256_init(&c);
    hmac_key_block(&c, k, sizeof k, 0x36u);
    iote_be_sha256_save(&c, keys->mac);
    rc |= iote_be_sha256_final(&c, ignore);
    rc |= iote_be_sha256_init(&c);
    hmac_key_block(&c, k, sizeof k, 0x5cu);
    iote_be_sha256_save(&c, keys->mac + 32);
    rc |= iote_be_sha256_final(&c, ignore);
    wipe(k, sizeof k);
    return rc == 0 ? IOTE_OK : IOTE_ERR_BACKEND;
}
#endif

static IOTE_NOINLINE int derive_keys(iote_keys *keys, const uint8_t *secret, size_t secret_len, const char *info_enc,
                       const char *info_mac, size_t info_len)
{
    uint8_t prk[32];
    uint8_t info[24];
    int rc;

    if (keys == NULL || secret == NULL) {
        return IOTE_ERR_ARGUMENT;
    }
    memset(keys, 0, sizeof *keys); /* also be = NULL: an uninitialised struct holds nothing to free */
    if (secret_len != 16 && secret_len != 32) {
        return IOTE_ERR_BAD_KEY;
    }
#if !IOTE_WITH_AES256
    if (secret_len == 32) {
        return IOTE_ERR_BAD_KEY;
    }
#endif
    /* HKDF-Extract with an empty salt: HMAC with 32 zero bytes as key, which pads to the same block as an
     * empty key */
    rc = hmac_once(NULL, 0, secret, secret_len, prk, sizeof prk);
    info_copy(info, info_enc, info_len);
    rc |= hmac_once(prk, sizeof prk, info, info_len, keys->enc, secret_len); /* HKDF-Expand, L = len(S) */
    info_copy(info, info_mac, info_len);
    rc |= hmac_once(prk, sizeof prk, info, info_len, keys->mac, 32);
    keys->enc_len = (uint8_t)secret_len;
#if defined(IOTE_BE_KEYCTX)
    /* long-lived contexts for K_enc and K_mac; without them (out of memory) every call makes its own */
    iote_be_keys_init(&keys->be, keys->enc, secret_len, keys->mac);
#endif
#if defined(IOTE_BE_MIDSTATE)
    rc |= mac_midstates(keys);
#endif
    wipe(prk, sizeof prk);
    wipe(info, sizeof info);
    if (rc != IOTE_OK) {
        iote_keys_wipe(keys);
        return IOTE_ERR_BACKEND;
    }
    return IOTE_OK;
}

int iote_keys_init(iote_keys *keys, const uint8_t *secret, size_t secret_len)
{
    return derive_keys(keys, secret, secret_len, INFO_ENC, INFO_MAC, sizeof INFO_ENC - 1);
}

void iote_keys_wipe(iote_keys *keys)
{
    if (keys != NULL) {
#if defined(IOTE_BE_KEYCTX)
        iote_be_keys_free(&keys->be);
#endif
        wipe(keys, sizeof *keys);
    }
}

#if IOTE_WITH_LEAN
int iote_lean_keys_init(iote_lean_keys *keys, const uint8_t *secret, size_t secret_len)
{
    return derive_keys(keys == NULL ? NULL : &keys->k, secret, secret_len, INFO_LEAN_ENC, INFO_LEAN_MAC,
                       sizeof INFO_LEAN_ENC - 1);
}

void iote_lean_keys_wipe(iote_lean_keys *keys)
{
    if (keys != NULL) {
        iote_keys_wipe(&keys->k);
    }
}
#endif

static int keys_ok(const iote_keys *keys)
{
    return keys != NULL && (keys->enc_len == 16 || (IOTE_WITH_AES256 && keys->enc_len == 32));
}

/* ---- base64url (RFC 4648 section 5, no '=') ------------------------------------------------------------- */

#if !defined(__AVR__)
/* Hosts: tables (small MCUs keep the branches, which take less flash than 320 bytes of tables). */
static const char B64_ENC[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/* value + 1 of each base64url character, 0 for every other byte */
static const uint8_t B64_DEC[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10,
    ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19,
    ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
    ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
    ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46,
    ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55,
    ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64};

static char b64_char(uint8_t v)
{
    return B64_ENC[v & 63u];
}

static int b64_value(unsigned c)
{
    return (int)B64_DEC[c & 0xFFu] - 1;
}
#else
static char b64_char(uint8_t v)
{
    uint8_t c;
    v &= 63u;
    c = (uint8_t)(v + 'A'); /* then shifted into the range of v's part of the alphabet */
    if (v >= 26u) {
        c = (uint8_t)(c + ('a' - 'A' - 26));
    }
    if (v >= 52u) {
        c = (uint8_t)(c - ('a' - '0' + 26));
    }
    if (v >= 62u) {
        c = v == 62u ? '-' : '_';
    }
    return (char)c;
}

static int b64_value(unsigned c)
{
    if (c >= 'A' && c <= 'Z') {
        return (int)(c - 'A');
    }
    if (c >= 'a' && c <= 'z') {
        return (int)(c - 'a' + 26);
    }
    if (c >= '0' && c <= '9') {
        return (int)(c - '0' + 52);
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}
#endif

IOTE_NOINLINE size_t iote_b64url_encoded_len(size_t raw_len)
{
    if (raw_len / 3 > ((size_t)-1 - 3) / 4) {
        return 0;
    }
    return raw_len / 3 * 4 + (raw_len % 3 == 0 ? 0u : raw_len % 3 + 1u);
}

/* Decoded length of n base64url characters; (size_t)-1 when n % 4 == 1 (impossible). */
static size_t b64_decoded_len(size_t n)
{
    if (n % 4 == 1) {
        return (size_t)-1;
    }
    return n / 4 * 3 + (n % 4 == 0 ? 0u : n % 4 - 1u);
}

/* n (1..3) input bytes -> n + 1 characters; all input is read before anything is written. Byte arithmetic
 * only: 32-bit shifts are expensive on 8-bit MCUs. */
static void b64_group(char *out, const uint8_t *in, size_t n)
{
    uint8_t v[4];
    uint8_t b1 = n > 1 ? in[1] : 0u;
    uint8_t b2 = n > 2 ? in[2] : 0u;
    size_t i;
    v[0] = (uint8_t)(in[0] >> 2);
    v[1] = (uint8_t)((in[0] << 4) | (b1 >> 4));
    v[2] = (uint8_t)((b1 << 2) | (b2 >> 6));
    v[3] = b2;
    for (i = 0; i <= n; i++) {
        out[i] = b64_char(v[i]);
    }
}

int iote_b64url_encode(const uint8_t *in, size_t len, char *out, size_t out_cap, size_t *out_len)
{
    size_t n = iote_b64url_encoded_len(len);
    size_t full = len / 3;
    size_t rem = len % 3;
    size_t k;

    if (out == NULL || (in == NULL && len != 0) || (n == 0 && len != 0)) {
        return IOTE_ERR_ARGUMENT;
    }
    if (n > out_cap) {
        return IOTE_ERR_BUFFER;
    }
    /* Backwards, so that out may equal in: group k reads in[3k..3k+3) and writes out[4k..4k+4), and every
     * group after k writes at or beyond 4k+4, past the last byte of group k's input. */
    if (rem != 0) {
        b64_group(out + full * 4, in + full * 3, rem);
    }
#if !defined(__AVR__)
    for (k = full; k-- > 0;) { /* hosts: straight from the table, the 3 bytes read before the 4 are written */
        const uint8_t *g = in + 3 * k;
        unsigned a = g[0], b = g[1], c = g[2];
        char *o = out + 4 * k;
        o[0] = B64_ENC[a >> 2];
        o[1] = B64_ENC[((a & 3u) << 4) | (b >> 4)];
        o[2] = B64_ENC[((b & 15u) << 2) | (c >> 6)];
        o[3] = B64_ENC[c & 63u];
    }
#else
    {   /* small MCUs: one pointer pair walking backwards, no index arithmetic */
        const uint8_t *g = in + full * 3;
        char *o = out + full * 4;
        for (k = full; k-- > 0;) {
            g -= 3;
            o -= 4;
            b64_group(o, g, 3);
        }
    }
#endif
    if (out_len != NULL) {
        *out_len = n;
    }
    return IOTE_OK;
}

/* A streaming strict decoder: characters go in one at a time, bytes come out in order. */
typedef struct {
    uint8_t *out;
    size_t cap;
    size_t pos;
    uint8_t q[3];   /* the 6-bit values of the current group */
    uint8_t nchars; /* characters in the current group */
} b64_dec;

static void b64_dec_init(b64_dec *d, uint8_t *out, size_t cap)
{
    d->out = out;
    d->cap = cap;
    d->pos = 0;
    d->nchars = 0;
}

static int b64_dec_put(b64_dec *d, unsigned c)
{
    int v = b64_value(c);
    if (v < 0) {
        return IOTE_ERR_MALFORMED;
    }
    if (d->nchars < 3) {
        d->q[d->nchars++] = (uint8_t)v;
        return IOTE_OK;
    }
    if (d->pos > d->cap || d->cap - d->pos < 3) {
        return IOTE_ERR_BUFFER;
    }
    d->out[d->pos++] = (uint8_t)((d->q[0] << 2) | (d->q[1] >> 4));
    d->out[d->pos++] = (uint8_t)((d->q[1] << 4) | (d->q[2] >> 2));
    d->out[d->pos++] = (uint8_t)((d->q[2] << 6) | v);
    d->nchars = 0;
    return IOTE_OK;
}

static int b64_dec_end(b64_dec *d)
{
    size_t need = d->nchars == 0 ? 0u : (size_t)d->nchars - 1u;
    if (d->nchars == 1) {
        return IOTE_ERR_MALFORMED;
    }
    /* canonical: the unused low bits of the last character are zero */
    if ((d->nchars == 2 && (d->q[1] & 0x0Fu) != 0) || (d->nchars == 3 && (d->q[2] & 0x03u) != 0)) {
        return IOTE_ERR_MALFORMED;
    }
    if (d->pos > d->cap || d->cap - d->pos < need) {
        return IOTE_ERR_BUFFER;
    }
    /* the canonical check made the dropped low bits zero: write the group's first bytes as a whole group would */
    if (need != 0) {
        uint8_t b[2];
        b[0] = (uint8_t)((d->q[0] << 2) | (d->q[1] >> 4));
        b[1] = (uint8_t)((d->q[1] << 4) | (d->q[2] >> 2));
        memcpy(d->out + d->pos, b, need);
        d->pos += need;
    }
    d->nchars = 0;
    return IOTE_OK;
}

int iote_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    b64_dec d;
    size_t i;
    size_t need = b64_decoded_len(len);
    int rc;

    if ((in == NULL && len != 0) || (out == NULL && out_cap != 0)) {
        return IOTE_ERR_ARGUMENT;
    }
    if (need == (size_t)-1) {
        return IOTE_ERR_MALFORMED;
    }
    if (need > out_cap) {
        return IOTE_ERR_BUFFER;
    }
    /* forward; out may equal in since 3 bytes are written only after 4 characters were read */
    b64_dec_init(&d, out, out_cap);
    i = 0;
#if !defined(__AVR__)
    /* whole groups of 4 with the table (need <= out_cap was checked), then the rest one by one */
    for (; len - i > 4; i += 4) {
        const unsigned char *g = (const unsigned char *)in + i;
        unsigned a, b, c, e;
        /* each character is checked before the next is read: nothing after the first bad one is looked at */
        if ((a = B64_DEC[g[0]]) == 0 || (b = B64_DEC[g[1]]) == 0 || (c = B64_DEC[g[2]]) == 0 ||
            (e = B64_DEC[g[3]]) == 0) {
            return IOTE_ERR_MALFORMED;
        }
        a--, b--, c--, e--;
        out[d.pos++] = (uint8_t)((a << 2) | (b >> 4));
        out[d.pos++] = (uint8_t)((b << 4) | (c >> 2));
        out[d.pos++] = (uint8_t)((c << 6) | e);
    }
#endif
    for (; i < len; i++) {
        rc = b64_dec_put(&d, (unsigned char)in[i]);
        if (rc != IOTE_OK) {
            return rc;
        }
    }
    rc = b64_dec_end(&d);
    if (rc == IOTE_OK && out_len != NULL) {
        *out_len = d.pos;
    }
    return rc;
}

/* ---- PKCS#7 -------------------------------------------------------------------------------------------- */

int iote_pkcs7_unpad(const uint8_t *data, size_t len, size_t *msg_len)
{
    uint8_t p;
    uint8_t bad = 0;
    size_t i;

    if (data == NULL || len == 0 || len % 16 != 0) {
        return IOTE_ERR_PADDING;
    }
    p = data[len - 1];
    if (p < 1 || p > 16) {
        return IOTE_ERR_PADDING;
    }
    /* look at all 16 candidate bytes so the work does not depend on where a mismatch is */
    for (i = 1; i <= 16; i++) {
        uint8_t in_pad = (uint8_t)(0u - (uint8_t)(i <= p)); /* 0xff for the last p bytes */
        bad |= (uint8_t)(in_pad & (data[len - i] ^ p));
    }
    if (bad != 0) {
        return IOTE_ERR_PADDING;
    }
    if (msg_len != NULL) {
        *msg_len = len - p;
    }
    return IOTE_OK;
}

/* ---- AES-CBC + PKCS#7 (what seal and open run) ---------------------------------------------------------- */

/* Every use of the backend's AES-CBC goes through this one function, so it has a single call site (small builds
 * with -flto would otherwise inline it several times). CBC_ENC pads buf[0..len) first; CBC_DEC checks the
 * padding after; CBC_ENC_RAW encrypts len bytes (whole blocks) as they are (the lean form's IV: one block
 * under a zero IV is AES-ECB). keys (NULL for the raw-key API) lets a backend use its per-key contexts. */
enum { CBC_ENC = 0, CBC_DEC = 1, CBC_ENC_RAW = 2 };

static int cbc_pkcs7(int mode, const iote_keys *keys, const uint8_t *iv, uint8_t *buf, size_t len, size_t cap,
                     size_t *out_len)
{
    int decrypt = mode == CBC_DEC;
    size_t n = mode == CBC_ENC ? (len / 16 + 1) * 16 : len;
    int rc = IOTE_OK;
    /* the callers checked keys (keys_ok, or the raw-key API below), iv and buf */
    if (mode != CBC_ENC) {
        if (len % 16 != 0) {
            return IOTE_ERR_PADDING; /* no whole blocks, so no valid padding either */
        }
    } else {
        if (len > (size_t)-1 - 16 || cap < n) {
            return IOTE_ERR_BUFFER;
        }
        memset(buf + len, (int)(n - len), n - len);
    }
#if defined(IOTE_BE_KEYCTX)
    rc = iote_be_aes_cbc_key(keys->be, decrypt, keys->enc, keys->enc_len, iv, buf, n);
#else
    rc = iote_be_aes_cbc(decrypt, keys->enc, keys->enc_len, iv, buf, n);
#endif
    if (rc != 0) {
        rc = IOTE_ERR_BACKEND;
    } else if (decrypt) {
        rc = iote_pkcs7_unpad(buf, n, &n);
    }
    if (rc != IOTE_OK) {
        wipe(buf, n); /* n is still the length that went through AES */
    } else if (out_len != NULL) {
        *out_len = n;
    }
    return rc;
}

/* The raw-key API: the key goes into a temporary iote_keys without per-key contexts (be = NULL: one-shot ones) */
static int cbc_raw_key(int mode, const uint8_t *key, size_t key_len, const uint8_t *iv, uint8_t *buf, size_t len,
                       size_t cap, size_t *out_len)
{
    iote_keys k;
    int rc;
    if (key == NULL || iv == NULL || (buf == NULL && cap != 0)) {
        return IOTE_ERR_ARGUMENT;
    }
    if (key_len != 16 && !(IOTE_WITH_AES256 && key_len == 32)) {
        return IOTE_ERR_BAD_KEY;
    }
    memset(&k, 0, sizeof k);
    memcpy(k.enc, key, key_len);
    k.enc_len = (uint8_t)key_len;
    rc = cbc_pkcs7(mode, &k, iv, buf, len, cap, out_len);
    wipe(&k, sizeof k);
    return rc;
}

int iote_cbc_pkcs7_encrypt(const uint8_t *key, size_t key_len, const uint8_t iv[IOTE_IV_LEN], uint8_t *buf,
                           size_t msg_len, size_t buf_cap, size_t *ct_len)
{
    return cbc_raw_key(CBC_ENC, key, key_len, iv, buf, msg_len, buf_cap, ct_len);
}

int iote_cbc_pkcs7_decrypt(const uint8_t *key, size_t key_len, const uint8_t iv[IOTE_IV_LEN], uint8_t *buf,
                           size_t ct_len, size_t *msg_len)
{
    return cbc_raw_key(CBC_DEC, key, key_len, iv, buf, ct_len, ct_len, msg_len);
}

/* ---- header fields ------------------------------------------------------------------------------------- */

static int dev_char_ok(unsigned c)
{
    return c >= 0x21u && c <= 0x7Eu && c != '"' && c != '\\';
}

static int fields_ok(const iote_fields *f)
{
    size_t i;
    if (f == NULL || f->dev == NULL) {
        return 0;
    }
    if ((f->direction != IOTE_UP && f->direction != IOTE_DOWN) || f->type > IOTE_TYPE_RESYNC_RESPONSE) {
        return 0;
    }
    if (f->dev_len < 1 || f->dev_len > IOTE_MAX_DEV) {
        return 0;
    }
    for (i = 0; i < f->dev_len; i++) {
        if (!dev_char_ok((unsigned char)f->dev[i])) {
            return 0;
        }
    }
    return 1;
}

static IOTE_NOINLINE void put_u32be(uint8_t *p, uint32_t v)
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

/* Starts an HMAC-SHA-256 under keys->mac (K_mac, 32 bytes) with its inner (outer = 0) or outer key block
 * already hashed: from the saved states (IOTE_BE_MIDSTATE), the backend's per-key context (IOTE_BE_KEYCTX), or
 * by hashing the padded key. */
static int mac_key_block(iote_be_sha256_ctx *c, const iote_keys *keys, int outer)
{
#if defined(IOTE_BE_MIDSTATE)
    return iote_be_sha256_resume(c, keys->mac + (outer ? 32 : 0));
#else
    int rc;
#if defined(IOTE_BE_KEYCTX)
    rc = iote_be_hmac_begin(c, keys->be, outer);
    if (rc <= 0) {
        return rc;
    }
#endif
    rc = iote_be_sha256_init(c);
    hmac_key_block(c, keys->mac, 32, outer ? 0x5cu : 0x36u);
    return rc;
#endif
}

/* The MAC of every form: HMAC(K_mac, head || dev || mid || ct)[0:tag_len]. Compact and JSON: head = version,
 * dir, type, L; mid = seq, ts, iv. Lean: head = hdr, L; mid = seq, [ts]. */
static int mac_tag(const iote_keys *keys, const uint8_t *head, uint8_t head_len, const char *dev, uint8_t dev_len,
                   const uint8_t *mid, uint8_t mid_len, const uint8_t *ct, size_t ct_len, uint8_t *tag,
                   uint8_t tag_len)
{
    iote_be_sha256_ctx c;
    uint8_t inner[32];
    int rc = mac_key_block(&c, keys, 0);
    iote_be_sha256_update(&c, head, head_len);
    iote_be_sha256_update(&c, (const uint8_t *)dev, dev_len);
    iote_be_sha256_update(&c, mid, mid_len);
    iote_be_sha256_update(&c, ct, ct_len);
    rc |= iote_be_sha256_final(&c, inner);
    rc |= mac_key_block(&c, keys, 1);
    iote_be_sha256_update(&c, inner, sizeof inner);
    rc |= iote_be_sha256_final(&c, inner);
    memcpy(tag, inner, tag_len);
    wipe(inner, sizeof inner);
    return rc == 0 ? IOTE_OK : IOTE_ERR_BACKEND;
}

#define COMPACT_MID 24u /* seq, ts, iv: the MAC input between dev and ct */

/* ---- JSON text pieces (shared by seal and sealed_len) --------------------------------------------------- */

#if IOTE_WITH_JSON
static const char DIR_NAMES[3][5] FLASH = {"", "up", "down"};
static const char TYPE_NAMES[3][16] FLASH = {"data", "resync-request", "resync-response"};

static size_t flash_len(const char *p)
{
    size_t n = 0;
    while (flash_byte(p + n) != '\0') {
        n++;
    }
    return n;
}

static size_t dec_digits(uint32_t v)
{
    size_t n = 1;
    while (v >= 10u) {
        v /= 10u;
        n++;
    }
    return n;
}

/* A bounded text writer: every append checks the remaining room first. */
typedef struct {
    char *p;
    size_t pos;
    size_t cap;
    int overflow;
} writer;

static void w_bytes(writer *w, const char *s, size_t n)
{
    if (w->overflow || n > w->cap - w->pos) {
        w->overflow = 1;
        return;
    }
    memcpy(w->p + w->pos, s, n);
    w->pos += n;
}

/* append a NUL-terminated string that lives in flash on AVR */
static void w_str(writer *w, const char *s)
{
    size_t n = flash_len(s);
    size_t i;
    if (w->overflow || n > w->cap - w->pos) {
        w->overflow = 1;
        return;
    }
    for (i = 0; i < n; i++) {
        w->p[w->pos++] = flash_byte(s + i);
    }
}

static void w_u32(writer *w, uint32_t v)
{
    char tmp[10];
    size_t n = dec_digits(v);
    size_t i = n;
    while (i-- > 0) {
        tmp[i] = (char)('0' + (v % 10u));
        v /= 10u;
    }
    w_bytes(w, tmp, n);
}

/* Everything up to and including the opening quote of "ct": the Python json.dumps layout of SPEC.md 5.2. */
static size_t json_prefix(writer *w, const iote_fields *f, const uint8_t iv[IOTE_IV_LEN])
{
    char ivtext[22];
    size_t start = w->pos;
    w_str(w, FLASH_STR("{\"v\": 1, \"dir\": \""));
    w_str(w, DIR_NAMES[f->direction]);
    w_str(w, FLASH_STR("\", \"type\": \""));
    w_str(w, TYPE_NAMES[f->type]);
    w_str(w, FLASH_STR("\", \"dev\": \""));
    w_bytes(w, f->dev, f->dev_len);
    w_str(w, FLASH_STR("\", \"seq\": "));
    w_u32(w, f->seq);
    w_str(w, FLASH_STR(", \"ts\": "));
    w_u32(w, f->ts);
    w_str(w, FLASH_STR(", \"iv\": \""));
    (void)iote_b64url_encode(iv, IOTE_IV_LEN, ivtext, sizeof ivtext, NULL);
    w_bytes(w, ivtext, sizeof ivtext);
    w_str(w, FLASH_STR("\", \"ct\": \""));
    return w->pos - start;
}

static const char JSON_TAG_OPEN[] FLASH = "\", \"tag\": \"";
static const char JSON_CLOSE[] FLASH = "\"}";

static size_t json_prefix_len(const iote_fields *f)
{
    /* the same sum json_prefix writes, computed without writing */
    return 17u + flash_len(DIR_NAMES[f->direction]) + 12u + flash_len(TYPE_NAMES[f->type]) + 11u + f->dev_len +
           10u + dec_digits(f->seq) + 8u + dec_digits(f->ts) + 9u + 22u + 10u;
}
#endif

#define LEAN_FIXED(t) (5u + 4u * (t)) /* hdr, seq, [ts] */

/* The raw bytes before the ciphertext: compact (and the MAC scratch of the JSON form) or lean */
static size_t bin_fixed(const iote_fields *f, int lean)
{
    return lean ? LEAN_FIXED(f->ts != 0) : HDR_FIXED + f->dev_len + IOTE_IV_LEN;
}

/* Length of every form's envelope (text without the NUL, or raw bytes); 0 for invalid fields or format, or a
 * length a size_t cannot hold. lean selects the form family: a format of the other family is invalid. */
static size_t sealed_len_of(const iote_fields *f, size_t msg_len, int format)
{
    int lean = format >= IOTE_FMT_LEAN;
    size_t ct_len;
    size_t raw;
    if (msg_len > (size_t)-1 - 256) {
        return 0;
    }
    ct_len = (msg_len / 16 + 1) * 16;
    raw = bin_fixed(f, lean) + ct_len + (lean ? IOTE_LEAN_TAG_LEN : IOTE_TAG_LEN);
    if (lean ? format == IOTE_FMT_LEAN : format == IOTE_FMT_COMPACT) {
        return iote_b64url_encoded_len(raw);
    }
#if IOTE_WITH_LEAN
    if (lean && format == IOTE_FMT_LEAN_RAW) {
        return raw;
    }
#endif
#if IOTE_WITH_JSON
    if (!lean && format == IOTE_FMT_JSON) {
        size_t ct_text = iote_b64url_encoded_len(ct_len);
        size_t fixed = json_prefix_len(f) + (sizeof JSON_TAG_OPEN - 1) + 22u + (sizeof JSON_CLOSE - 1);
        if (ct_text == 0 || ct_text > (size_t)-1 - fixed) {
            return 0;
        }
        return fixed + ct_text;
    }
#endif
    return 0;
}

/* Wrong-family formats become -1 (compact/JSON family) or 99 (lean family): invalid in sealed_len_of and seal_any */
#define FMT_FAMILY(format, lean) \
    (((format) >= IOTE_FMT_LEAN) == (lean) ? (format) : (lean) ? 99 : -1)

static size_t sealed_len(const iote_fields *f, size_t msg_len, int format)
{
    return fields_ok(f) ? sealed_len_of(f, msg_len, format) : 0;
}

size_t iote_sealed_len(const iote_fields *f, size_t msg_len, int format)
{
    return sealed_len(f, msg_len, FMT_FAMILY(format, 0));
}

#if IOTE_WITH_LEAN
/* iv = AES-ECB(K_enc_lean, 0x4C || hdr & 0x0F || seq || 0^10): one block, CBC under a zero IV */
static int lean_iv(const iote_keys *keys, uint8_t hdr, const uint8_t seq_be[4], uint8_t iv[IOTE_IV_LEN])
{
    uint8_t zero[IOTE_IV_LEN];
    memset(zero, 0, sizeof zero);
    memset(iv, 0, IOTE_IV_LEN);
    iv[0] = 0x4C;
    iv[1] = (uint8_t)(hdr & 0x0Fu);
    memcpy(iv + 2, seq_be, 4);
    return cbc_pkcs7(CBC_ENC_RAW, keys, zero, iv, IOTE_IV_LEN, IOTE_IV_LEN, NULL);
}
#endif

#if IOTE_WITH_JSON
/* The JSON text around the raw ct at out + ct_pos: the suffix after the ct text first (it lies beyond the raw
 * ct), then ct in place, then the prefix. Its own frame (text buffers), never inlined into seal_any, so that it
 * is not on the stack together with the MAC's. */
static IOTE_NOINLINE int json_text(const iote_fields *f, const uint8_t *iv, size_t ct_len, const uint8_t *tag,
                                   char *out, size_t ct_pos, size_t total)
{
    writer w;
    size_t ct_text = iote_b64url_encoded_len(ct_len);
    char tagtext[22];
    int rc;
    w.p = out;
    w.pos = ct_pos + ct_text;
    w.cap = total;
    w.overflow = 0;
    (void)iote_b64url_encode(tag, IOTE_TAG_LEN, tagtext, sizeof tagtext, NULL);
    w_str(&w, JSON_TAG_OPEN);
    w_bytes(&w, tagtext, sizeof tagtext);
    w_str(&w, JSON_CLOSE);
    rc = iote_b64url_encode((const uint8_t *)out + ct_pos, ct_len, out + ct_pos, ct_text, NULL);
    w.pos = 0;
    w.cap = ct_pos;
    (void)json_prefix(&w, f, iv);
    if (w.overflow) {
        rc = IOTE_ERR_ARGUMENT; /* cannot happen: lengths were computed above */
    }
    return rc;
}
#endif

/* ---- seal ---------------------------------------------------------------------------------------------- */

/* Seal of every form. lean = 0: compact or JSON (iote_seal, iv from the caller, 16-byte tag); lean = 1: the
 * lean form (iote_lean_seal: iv derived from the header, 8-byte tag, text or raw). The binary header is written
 * right before the ciphertext (for JSON into room the JSON prefix overwrites at the end), so the MAC reads its
 * pieces from there for every form. */
static int seal_any(const iote_keys *keys, const iote_fields *f, const uint8_t *iv, const uint8_t *msg,
                    size_t msg_len, int format, char *out, size_t out_cap, size_t *out_len)
{
    int lean = format >= IOTE_FMT_LEAN;
    size_t total;
    size_t fixed;
    size_t ct_pos;
    size_t ct_len;
    size_t raw_len;
    uint8_t tag_len = lean ? IOTE_LEAN_TAG_LEN : IOTE_TAG_LEN;
    int text = format != IOTE_FMT_LEAN_RAW;
    uint8_t head[2];
    const uint8_t *mac_head;
    uint8_t *h;
    uint8_t *ct;
    uint8_t *tag;
    int rc = IOTE_OK;
#if IOTE_WITH_JSON
    uint8_t tagbuf[IOTE_TAG_LEN];
#endif
#if IOTE_WITH_LEAN
    uint8_t ivbuf[IOTE_IV_LEN];
#endif

    if (!keys_ok(keys) || (!lean && iv == NULL) || out == NULL || (msg == NULL && msg_len != 0)) {
        return IOTE_ERR_ARGUMENT;
    }
    if (!fields_ok(f)) {
        return IOTE_ERR_MALFORMED;
    }
    total = sealed_len_of(f, msg_len, format);
    if (total == 0) {
        return IOTE_ERR_ARGUMENT;
    }
    fixed = bin_fixed(f, lean);
    ct_len = (msg_len / 16 + 1) * 16;
    raw_len = fixed + ct_len + tag_len;
    ct_pos = fixed;
#if IOTE_WITH_JSON
    if (format == IOTE_FMT_JSON) {
        if (OVER_TEXT_CAP(total)) {
            return IOTE_ERR_MALFORMED; /* SPEC.md section 5: no receiver need take it */
        }
        ct_pos = json_prefix_len(f);
    } else
#endif
    /* the binary forms: raw bytes beyond IOTE_MAX_RAW are exactly the texts beyond IOTE_MAX_TEXT (a 16-bit size_t
     * never gets here with such a length: its text length does not fit, total is 0) */
    if (raw_len > IOTE_MAX_RAW) {
        return IOTE_ERR_MALFORMED;
    }
    if (out_cap < total + (size_t)text) {
        return IOTE_ERR_BUFFER;
    }
    /* The ciphertext is built where its text (or raw bytes) will be; msg may already lie inside out, so move it
     * first, then write the binary header in front of it. */
    ct = (uint8_t *)out + ct_pos;
    if (msg_len != 0) {
        memmove(ct, msg, msg_len);
    }
    h = ct - fixed;
    tag = ct + ct_len;
#if IOTE_WITH_LEAN
    if (lean) {
        unsigned t = f->ts != 0;
        h[0] = (uint8_t)(0x40u | (t << 4) | ((unsigned)f->direction << 2) | f->type);
        head[0] = h[0];
        head[1] = f->dev_len;
        mac_head = head;
        put_u32be(h + 1, f->seq);
        if (t) {
            put_u32be(h + 5, f->ts);
        }
        rc = lean_iv(keys, h[0], h + 1, ivbuf);
        iv = ivbuf;
    } else
#endif
    {
        (void)head;
        h[0] = 1;
        h[1] = f->direction;
        h[2] = f->type;
        h[3] = f->dev_len;
        mac_head = h;
        memcpy(h + 4, f->dev, f->dev_len);
        put_u32be(h + 4 + f->dev_len, f->seq);
        put_u32be(h + 8 + f->dev_len, f->ts);
        memcpy(h + HDR_FIXED + f->dev_len, iv, IOTE_IV_LEN);
#if IOTE_WITH_JSON
        if (format == IOTE_FMT_JSON) {
            tag = tagbuf; /* ct + ct_len is where the ct text goes */
        }
#endif
    }
    if (rc == IOTE_OK) {
        rc = cbc_pkcs7(CBC_ENC, keys, iv, ct, msg_len, ct_len, NULL);
    }
    if (rc == IOTE_OK) {
        rc = mac_tag(keys, mac_head, lean ? 2u : 4u, f->dev, f->dev_len, lean ? h + 1 : h + 4 + f->dev_len,
                     (uint8_t)(lean ? fixed - 1u : COMPACT_MID), ct, ct_len, tag, tag_len);
    }
#if IOTE_WITH_JSON
    if (rc == IOTE_OK && format == IOTE_FMT_JSON) {
        rc = json_text(f, iv, ct_len, tagbuf, out, ct_pos, total);
        wipe(tagbuf, sizeof tagbuf);
    } else
#endif
    if (rc == IOTE_OK && text) {
        rc = iote_b64url_encode((const uint8_t *)out, raw_len, out, total, NULL); /* in place, backwards */
    }
#if IOTE_WITH_LEAN
    wipe(ivbuf, sizeof ivbuf);
#endif
    if (rc != IOTE_OK) {
        wipe(out, out_cap);
        return rc;
    }
    if (text) {
        out[total] = '\0';
    }
    if (out_len != NULL) {
        *out_len = total;
    }
    return IOTE_OK;
}

int iote_seal(const iote_keys *keys, const iote_fields *f, const uint8_t iv[IOTE_IV_LEN], const uint8_t *msg,
              size_t msg_len, int format, char *out, size_t out_cap, size_t *out_len)
{
    return seal_any(keys, f, iv, msg, msg_len, FMT_FAMILY(format, 0), out, out_cap, out_len);
}

/* ---- open ---------------------------------------------------------------------------------------------- */

/* SPEC.md section 5: exactly one trailing LF or CR LF is not part of the envelope text; nothing else is removed. */
static size_t strip_newline(const char *text, size_t len)
{
    if (len != 0 && text[len - 1] == '\n') {
        len--;
        if (len != 0 && text[len - 1] == '\r') {
            len--;
        }
    }
    return len;
}

/* Steps 2, 4, 5 of SPEC.md section 6 on parsed fields; ct lies in buf at ct_off; plaintext moved to buf[0].
 * head: version, dir, type, L; mid: seq, ts, iv (the compact bytes around dev, which is hdr->dev). */
static int verify_decrypt(const iote_keys *keys, uint8_t expect_dir, iote_header *hdr, const uint8_t *head,
                          const uint8_t *mid, const uint8_t *tag, uint8_t *buf, size_t ct_off, size_t ct_len,
                          size_t *msg_len)
{
    uint8_t want[IOTE_TAG_LEN];
    uint8_t ivcopy[IOTE_IV_LEN];
    size_t n = 0;
    int rc;

    if (hdr->direction != expect_dir) {
        return IOTE_ERR_DIRECTION;
    }
    rc = mac_tag(keys, head, 4, hdr->dev, hdr->dev_len, mid, COMPACT_MID, buf + ct_off, ct_len, want,
                 IOTE_TAG_LEN);
    if (rc != IOTE_OK) {
        return rc;
    }
    rc = iote_ct_equal(want, tag, IOTE_TAG_LEN) ? IOTE_OK : IOTE_ERR_AUTH;
    wipe(want, sizeof want);
    if (rc != IOTE_OK) {
        return rc;
    }
    memcpy(ivcopy, mid + 8, IOTE_IV_LEN); /* iv may lie in buf, which is about to change */
    rc = cbc_pkcs7(CBC_DEC, keys, ivcopy, buf + ct_off, ct_len, ct_len, &n); /* wipes on failure */
    if (rc != IOTE_OK) {
        return rc;
    }
    if (ct_off != 0 && n != 0) {
        memmove(buf, buf + ct_off, n);
    }
    *msg_len = n;
    return IOTE_OK;
}

static int open_compact(const iote_keys *keys, uint8_t expect_dir, const char *text, size_t text_len,
                        uint8_t *buf, size_t buf_cap, iote_header *hdr, size_t *msg_len)
{
    size_t raw_len = 0;
    size_t ct_len;
    size_t i;
    uint8_t L;
    int rc;

    rc = iote_b64url_decode(text, text_len, buf, buf_cap, &raw_len); /* a length = 1 (mod 4) is malformed */
    if (rc != IOTE_OK) {
        return rc;
    }
    if (raw_len < 1) {
        return IOTE_ERR_MALFORMED;
    }
    if (buf[0] != 1) {
        return IOTE_ERR_VERSION;
    }
    if (raw_len < IOTE_MIN_RAW) {
        return IOTE_ERR_MALFORMED;
    }
    L = buf[3];
    if ((buf[1] != IOTE_UP && buf[1] != IOTE_DOWN) || buf[2] > IOTE_TYPE_RESYNC_RESPONSE || L < 1 ||
        L > IOTE_MAX_DEV) {
        return IOTE_ERR_MALFORMED;
    }
    if (raw_len < HDR_FIXED + L + IOTE_IV_LEN + 16u + IOTE_TAG_LEN) {
        return IOTE_ERR_MALFORMED;
    }
    ct_len = raw_len - (HDR_FIXED + L + IOTE_IV_LEN + IOTE_TAG_LEN);
    if (ct_len % 16 != 0) {
        return IOTE_ERR_MALFORMED;
    }
    for (i = 0; i < L; i++) {
        if (!dev_char_ok(buf[4 + i])) {
            return IOTE_ERR_MALFORMED;
        }
    }
    hdr->direction = buf[1];
    hdr->type = buf[2];
    hdr->dev_len = L;
    memcpy(hdr->dev, buf + 4, L);
    hdr->dev[L] = '\0';
    hdr->seq = get_u32be(buf + 4 + L);
    hdr->ts = get_u32be(buf + 8 + L);
    return verify_decrypt(keys, expect_dir, hdr, buf, buf + 4 + L, buf + raw_len - IOTE_TAG_LEN, buf,
                          HDR_FIXED + L + IOTE_IV_LEN, ct_len, msg_len);
}

#if IOTE_WITH_JSON
/*
 * A parser for exactly the object of SPEC.md section 5.2, following the rules of Python's json module (the
 * reference implementation) so both report the same error: first the text must be JSON (strings valid
 * UTF-8, escapes valid, numbers in JSON grammar, true/false/null allowed), with no duplicated member; then
 * the member set must be exact; then v must be the integer 1 (another integer is unsupported-version);
 * only then are the other members' types and values checked (malformed).
 * Difference: a nested array/object as a member value is malformed at once (Python would first report a
 * v != 1 as unsupported-version).
 * Cost: one pass, front to back, each byte looked at a bounded number of times (member names are compared
 * with the nine names only up to their first difference); it stops at the first unknown or repeated member name
 * (before its value) and at the first '[' or '{' value, so neither member count nor nesting depth matters.
 */
enum { J_ABSENT = 0, J_STRING, J_INT, J_NUMBER, J_LITERAL };
enum { M_V, M_DIR, M_TYPE, M_DEV, M_SEQ, M_TS, M_IV, M_CT, M_TAG, M_COUNT };
static const char MEMBER_NAMES[M_COUNT][5] FLASH = {"v", "dir", "type", "dev", "seq", "ts", "iv", "ct", "tag"};

typedef struct {
    const char *p; /* strings: first byte after the quote; numbers/literals: first byte */
    size_t n;      /* raw length (without quotes) */
    size_t units;  /* strings: decoded length in characters */
    uint8_t kind;
} jvalue;

typedef struct {
    const char *p;
    const char *end;
} jcursor;

static int j_ws(unsigned c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void j_skip_ws(jcursor *c)
{
    while (c->p < c->end && j_ws((unsigned char)*c->p)) {
        c->p++;
    }
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') {
        return (int)(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
        return (int)(c - 'a' + 10);
    }
    if (c >= 'A' && c <= 'F') {
        return (int)(c - 'A' + 10);
    }
    return -1;
}

/* Length of the valid UTF-8 sequence starting at p (first byte >= 0x80), 0 if invalid (Python's strict
 * decoder: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    size_t n;
    size_t i;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            return 0;
        }
    }
    return n;
}

/* Decode one character of a JSON string body at *p (before end). Returns the character for ASCII results,
 * 0x100 for any non-ASCII character, -1 for the closing quote, -2 on invalid syntax. */
static int j_char(const char **pp, const char *end)
{
    const unsigned char *p = (const unsigned char *)*pp;
    unsigned c;
    if ((const char *)p >= end) {
        return -2;
    }
    c = *p;
    if (c == '"') {
        *pp += 1;
        return -1;
    }
    if (c < 0x20) {
        return -2;
    }
    if (c >= 0x80) {
        size_t n = utf8_seq(p, (size_t)(end - (const char *)p));
        if (n == 0) {
            return -2;
        }
        *pp += n;
        return 0x100;
    }
    if (c != '\\') {
        *pp += 1;
        return (int)c;
    }
    if (end - (const char *)p < 2) {
        return -2;
    }
    c = p[1];
    *pp += 2;
    switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '/': return '/';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': {
        unsigned v = 0;
        int i;
        if (end - *pp < 4) {
            return -2;
        }
        for (i = 0; i < 4; i++) {
            int h = hexval((unsigned char)(*pp)[i]);
            if (h < 0) {
                return -2;
            }
            v = (v << 4) | (unsigned)h;
        }
        *pp += 4;
        /* a surrogate pair is one character; Python also accepts lone surrogates */
        if (v >= 0xD800 && v <= 0xDBFF && end - *pp >= 6 && (*pp)[0] == '\\' && (*pp)[1] == 'u') {
            unsigned lo = 0;
            int ok = 1;
            for (i = 0; i < 4; i++) {
                int h = hexval((unsigned char)(*pp)[2 + i]);
                if (h < 0) {
                    ok = 0;
                    break;
                }
                lo = (lo << 4) | (unsigned)h;
            }
            if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
                *pp += 6;
            }
        }
        return v < 0x80 ? (int)v : 0x100;
    }
    default:
        return -2;
    }
}

/* A string starting after its opening quote: validates it, counts its characters, leaves c after the
 * closing quote. */
static int j_string(jcursor *c, jvalue *v)
{
    const char *start = c->p;
    size_t units = 0;
    for (;;) {
        int ch = j_char(&c->p, c->end);
        if (ch == -2) {
            return IOTE_ERR_MALFORMED;
        }
        if (ch == -1) {
            break;
        }
        units++;
    }
    if (v != NULL) {
        v->kind = J_STRING;
        v->p = start;
        v->n = (size_t)(c->p - start) - 1;
        v->units = units;
    }
    return IOTE_OK;
}

static int j_number(jcursor *c, jvalue *v)
{
    const char *s = c->p;
    int is_int = 1;
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    }
    if (c->p >= c->end) {
        return IOTE_ERR_MALFORMED;
    }
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    } else {
        return IOTE_ERR_MALFORMED;
    }
    if (c->p < c->end && *c->p == '.') {
        is_int = 0;
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
            return IOTE_ERR_MALFORMED;
        }
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        is_int = 0;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') {
            return IOTE_ERR_MALFORMED;
        }
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            c->p++;
        }
    }
    v->kind = is_int ? J_INT : J_NUMBER;
    v->p = s;
    v->n = (size_t)(c->p - s);
    v->units = v->n;
    return IOTE_OK;
}

static int j_value(jcursor *c, jvalue *v)
{
    static const char literals[3][6] FLASH = {"true", "false", "null"};
    size_t i;
    unsigned ch;
    if (c->p >= c->end) {
        return IOTE_ERR_MALFORMED;
    }
    ch = (unsigned char)*c->p;
    if (ch == '"') {
        c->p++;
        return j_string(c, v);
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        return j_number(c, v);
    }
    for (i = 0; i < 3; i++) {
        size_t n = flash_len(literals[i]);
        size_t k = 0;
        while (k < n && (size_t)(c->end - c->p) > k && c->p[k] == flash_byte(literals[i] + k)) {
            k++;
        }
        if (k == n) {
            v->kind = J_LITERAL;
            v->p = c->p;
            v->n = n;
            c->p += n;
            return IOTE_OK;
        }
    }
    return IOTE_ERR_MALFORMED; /* nested containers, NaN/Infinity, anything else */
}

/* Compare a JSON string value with an ASCII word (in flash on AVR), decoding escapes. */
static int j_equals(const jvalue *v, const char *word)
{
    const char *p = v->p;
    const char *end = v->p + v->n + 1; /* include the closing quote */
    size_t i = 0;
    for (;;) {
        int ch = j_char(&p, end);
        char w = flash_byte(word + i);
        if (ch == -1) {
            return w == '\0';
        }
        if (ch < 0 || w == '\0' || ch != (unsigned char)w) {
            return 0;
        }
        i++;
    }
}

/* Parse the top-level object into members[]; syntax errors, duplicates and unknown members are malformed. */
static int j_parse(const char *text, size_t len, jvalue members[M_COUNT])
{
    jcursor c;
    size_t i;
    int rc;
    memset(members, 0, sizeof(jvalue) * M_COUNT);
    c.p = text;
    c.end = text + len;
    j_skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') {
        return IOTE_ERR_MALFORMED;
    }
    c.p++;
    j_skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            jvalue name;
            jvalue value;
            int which = -1;
            if (c.p >= c.end || *c.p != '"') {
                return IOTE_ERR_MALFORMED;
            }
            c.p++;
            rc = j_string(&c, &name);
            if (rc != IOTE_OK) {
                return rc;
            }
            for (i = 0; i < M_COUNT; i++) {
                if (j_equals(&name, MEMBER_NAMES[i])) {
                    which = (int)i;
                }
            }
            /* An unknown member is malformed, and so is a repeated one (so a tenth member is, at the latest):
             * refused here, before its value is read, whatever follows. Python reports both as malformed too,
             * before it looks at the version. */
            if (which < 0 || members[which].kind != J_ABSENT) {
                return IOTE_ERR_MALFORMED;
            }
            j_skip_ws(&c);
            if (c.p >= c.end || *c.p != ':') {
                return IOTE_ERR_MALFORMED;
            }
            c.p++;
            j_skip_ws(&c);
            rc = j_value(&c, &value);
            if (rc != IOTE_OK) {
                return rc;
            }
            members[which] = value;
            j_skip_ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                j_skip_ws(&c);
                continue;
            }
            if (c.p < c.end && *c.p == '}') {
                c.p++;
                break;
            }
            return IOTE_ERR_MALFORMED;
        }
    }
    j_skip_ws(&c);
    if (c.p != c.end) {
        return IOTE_ERR_MALFORMED;
    }
    for (i = 0; i < M_COUNT; i++) {
        if (members[i].kind == J_ABSENT) {
            return IOTE_ERR_MALFORMED;
        }
    }
    return IOTE_OK;
}

static int j_u32(const jvalue *v, uint32_t *out)
{
    const char *p = v->p;
    size_t n = v->n;
    uint32_t acc = 0;
    if (v->kind != J_INT) {
        return IOTE_ERR_MALFORMED;
    }
    if (n == 2 && p[0] == '-' && p[1] == '0') { /* -0 is the integer 0 */
        *out = 0;
        return IOTE_OK;
    }
    if (p[0] == '-') {
        return IOTE_ERR_MALFORMED;
    }
    while (n--) {
        uint32_t d = (uint32_t)(*p++ - '0');
        if (acc > (0xFFFFFFFFu - d) / 10u) {
            return IOTE_ERR_MALFORMED;
        }
        acc = acc * 10u + d;
    }
    *out = acc;
    return IOTE_OK;
}

/* Decode a base64url JSON string value (escapes allowed) into out, which must receive exactly want bytes
 * (want 0: any positive multiple of 16 up to cap). */
static int j_b64(const jvalue *v, uint8_t *out, size_t cap, size_t want, size_t *got)
{
    const char *p = v->p;
    const char *end = v->p + v->n + 1;
    size_t need = b64_decoded_len(v->units);
    b64_dec d;
    int rc;
    if (need == (size_t)-1) {
        return IOTE_ERR_MALFORMED;
    }
    if (want != 0 ? need != want : (need == 0 || need % 16 != 0)) {
        return IOTE_ERR_MALFORMED;
    }
    if (need > cap) {
        return IOTE_ERR_BUFFER;
    }
    b64_dec_init(&d, out, cap);
    for (;;) {
        int ch = j_char(&p, end);
        if (ch == -1) {
            break;
        }
        if (ch < 0 || ch > 0x7F) {
            return IOTE_ERR_MALFORMED;
        }
        rc = b64_dec_put(&d, (unsigned)ch);
        if (rc != IOTE_OK) {
            return rc;
        }
    }
    rc = b64_dec_end(&d);
    if (rc == IOTE_OK && got != NULL) {
        *got = d.pos;
    }
    return rc;
}

static int open_json(const iote_keys *keys, uint8_t expect_dir, const char *text, size_t text_len, uint8_t *buf,
                     size_t buf_cap, iote_header *hdr, size_t *msg_len)
{
    jvalue m[M_COUNT];
    uint8_t bin[4 + COMPACT_MID]; /* the MAC's pieces as the compact form has them: head, then seq, ts, iv */
    uint8_t tag[IOTE_TAG_LEN];
    size_t ct_len = 0;
    size_t i;
    int rc;

    rc = j_parse(text, text_len, m);
    if (rc != IOTE_OK) {
        return rc;
    }
    if (m[M_V].kind != J_INT) {
        return IOTE_ERR_MALFORMED;
    }
    if (!(m[M_V].n == 1 && m[M_V].p[0] == '1')) {
        return IOTE_ERR_VERSION;
    }
    for (i = M_DIR; i <= M_TAG; i++) {
        if (i != M_SEQ && i != M_TS && m[i].kind != J_STRING) {
            return IOTE_ERR_MALFORMED;
        }
    }
    if (j_equals(&m[M_DIR], DIR_NAMES[IOTE_UP])) {
        hdr->direction = IOTE_UP;
    } else if (j_equals(&m[M_DIR], DIR_NAMES[IOTE_DOWN])) {
        hdr->direction = IOTE_DOWN;
    } else {
        return IOTE_ERR_MALFORMED;
    }
    for (i = 0; i < 3; i++) {
        if (j_equals(&m[M_TYPE], TYPE_NAMES[i])) {
            break;
        }
    }
    if (i == 3) {
        return IOTE_ERR_MALFORMED;
    }
    hdr->type = (uint8_t)i;
    if (m[M_DEV].units < 1 || m[M_DEV].units > IOTE_MAX_DEV) {
        return IOTE_ERR_MALFORMED;
    }
    {
        const char *p = m[M_DEV].p;
        const char *end = p + m[M_DEV].n + 1;
        size_t n = 0;
        for (;;) {
            int ch = j_char(&p, end);
            if (ch == -1) {
                break;
            }
            if (ch < 0 || !dev_char_ok((unsigned)ch) || n >= IOTE_MAX_DEV) {
                return IOTE_ERR_MALFORMED;
            }
            hdr->dev[n++] = (char)ch;
        }
        hdr->dev[n] = '\0';
        hdr->dev_len = (uint8_t)n;
    }
    if (j_u32(&m[M_SEQ], &hdr->seq) != IOTE_OK || j_u32(&m[M_TS], &hdr->ts) != IOTE_OK) {
        return IOTE_ERR_MALFORMED;
    }
    rc = j_b64(&m[M_IV], bin + 12, IOTE_IV_LEN, IOTE_IV_LEN, NULL);
    if (rc == IOTE_OK) {
        rc = j_b64(&m[M_TAG], tag, sizeof tag, IOTE_TAG_LEN, NULL);
    }
    if (rc != IOTE_OK) {
        return rc == IOTE_ERR_BUFFER ? IOTE_ERR_MALFORMED : rc;
    }
    /* last, because with buf == text it overwrites the text */
    rc = j_b64(&m[M_CT], buf, buf_cap, 0, &ct_len);
    if (rc != IOTE_OK) {
        return rc;
    }
    bin[0] = 1;
    bin[1] = hdr->direction;
    bin[2] = hdr->type;
    bin[3] = hdr->dev_len;
    put_u32be(bin + 4, hdr->seq);
    put_u32be(bin + 8, hdr->ts);
    return verify_decrypt(keys, expect_dir, hdr, bin, bin + 4, tag, buf, 0, ct_len, msg_len);
}
#endif

int iote_open(const iote_keys *keys, uint8_t expect_dir, const char *text, size_t text_len, int format,
              uint8_t *buf, size_t buf_cap, iote_header *hdr, size_t *msg_len)
{
    size_t n = 0;
    int rc;
    if (!keys_ok(keys) || (text == NULL && text_len != 0) || (buf == NULL && buf_cap != 0) || hdr == NULL ||
        (expect_dir != IOTE_UP && expect_dir != IOTE_DOWN)) {
        return IOTE_ERR_ARGUMENT;
    }
    text_len = strip_newline(text, text_len);
    if (OVER_TEXT_CAP(text_len)) {
        return IOTE_ERR_MALFORMED; /* refused before any of it is parsed */
    }
    if (format == IOTE_FMT_AUTO) {
        size_t i = 0;
        while (i < text_len && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r') ||
                                (text[i] >= 0x1c && text[i] <= 0x1f))) {
            i++;
        }
        format = (i < text_len && text[i] == '{') ? IOTE_FMT_JSON : IOTE_FMT_COMPACT;
    }
    if (format == IOTE_FMT_COMPACT) {
        rc = open_compact(keys, expect_dir, text, text_len, buf, buf_cap, hdr, &n);
    }
#if IOTE_WITH_JSON
    else if (format == IOTE_FMT_JSON) {
        rc = open_json(keys, expect_dir, text, text_len, buf, buf_cap, hdr, &n);
    }
#endif
    else {
        return IOTE_ERR_ARGUMENT;
    }
    if (rc == IOTE_OK && msg_len != NULL) {
        *msg_len = n;
    }
    return rc;
}

/* ---- lean form (SPEC.md section 5.3) ------------------------------------------------------------------- */

#if IOTE_WITH_LEAN
size_t iote_lean_sealed_len(const iote_fields *f, size_t msg_len, int format)
{
    return sealed_len(f, msg_len, FMT_FAMILY(format, 1));
}

int iote_lean_seal(const iote_lean_keys *lk, const iote_fields *f, const uint8_t *msg, size_t msg_len, int format,
                   void *out, size_t out_cap, size_t *out_len)
{
    return seal_any(lk == NULL ? NULL : &lk->k, f, NULL, msg, msg_len, FMT_FAMILY(format, 1), (char *)out, out_cap,
                    out_len);
}

int iote_lean_open(const iote_lean_keys *lk, uint8_t expect_dir, const char *dev, uint8_t dev_len, const void *in,
                   size_t in_len, int format, uint8_t *buf, size_t buf_cap, iote_header *hdr, size_t *msg_len)
{
    const iote_keys *keys = lk == NULL ? NULL : &lk->k;
    uint8_t want[IOTE_LEAN_TAG_LEN];
    uint8_t iv[IOTE_IV_LEN];
    size_t raw_len = in_len;
    size_t fixed, ct_len, n = 0, i;
    unsigned h, t;
    int rc;

    if (!keys_ok(keys) || (in == NULL && in_len != 0) || (buf == NULL && buf_cap != 0) || hdr == NULL ||
        (expect_dir != IOTE_UP && expect_dir != IOTE_DOWN) || dev == NULL || dev_len < 1 || dev_len > IOTE_MAX_DEV ||
        (format != IOTE_FMT_LEAN && format != IOTE_FMT_LEAN_RAW)) {
        return IOTE_ERR_ARGUMENT;
    }
    for (i = 0; i < dev_len; i++) {
        if (!dev_char_ok((unsigned char)dev[i])) {
            return IOTE_ERR_ARGUMENT;
        }
    }
    /* step 1: decode into buf */
    if (format == IOTE_FMT_LEAN) {
        raw_len = strip_newline((const char *)in, in_len);
        if (OVER_TEXT_CAP(raw_len)) {
            return IOTE_ERR_MALFORMED;
        }
        rc = iote_b64url_decode((const char *)in, raw_len, buf, buf_cap, &raw_len);
        if (rc != IOTE_OK) {
            return rc;
        }
    } else {
        if (raw_len > IOTE_MAX_RAW) {
            return IOTE_ERR_MALFORMED;
        }
        if (raw_len > buf_cap) {
            return IOTE_ERR_BUFFER;
        }
        if (raw_len != 0) {
            memmove(buf, in, raw_len);
        }
    }
    if (raw_len < 1) {
        return IOTE_ERR_MALFORMED;
    }
    h = buf[0];
    if ((h >> 5) != 2u) {
        return IOTE_ERR_VERSION;
    }
    t = (h >> 4) & 1u;
    fixed = LEAN_FIXED(t);
    if (((h >> 2) & 3u) == 0 || ((h >> 2) & 3u) == 3u || (h & 3u) == 3u ||
        raw_len < fixed + 16u + IOTE_LEAN_TAG_LEN) {
        return IOTE_ERR_MALFORMED;
    }
    ct_len = raw_len - fixed - IOTE_LEAN_TAG_LEN;
    if (ct_len % 16 != 0) {
        return IOTE_ERR_MALFORMED;
    }
    hdr->direction = (uint8_t)((h >> 2) & 3u);
    hdr->type = (uint8_t)(h & 3u);
    hdr->dev_len = dev_len;
    memcpy(hdr->dev, dev, dev_len);
    hdr->dev[dev_len] = '\0';
    hdr->seq = get_u32be(buf + 1);
    hdr->ts = t ? get_u32be(buf + 5) : 0u;
    if (t && hdr->ts == 0) {
        return IOTE_ERR_MALFORMED; /* ts = 0 has one encoding: T = 0 */
    }
    /* step 2, then the tag (constant time) before anything is decrypted */
    if (hdr->direction != expect_dir) {
        return IOTE_ERR_DIRECTION;
    }
    {
        uint8_t head[2];
        head[0] = buf[0];
        head[1] = dev_len;
        rc = mac_tag(keys, head, sizeof head, dev, dev_len, buf + 1, (uint8_t)(fixed - 1u), buf + fixed, ct_len, want,
                     IOTE_LEAN_TAG_LEN);
    }
    if (rc == IOTE_OK && !iote_ct_equal(want, buf + fixed + ct_len, IOTE_LEAN_TAG_LEN)) {
        rc = IOTE_ERR_AUTH;
    }
    wipe(want, sizeof want);
    if (rc == IOTE_OK) {
        rc = lean_iv(keys, buf[0], buf + 1, iv);
    }
    if (rc == IOTE_OK) {
        rc = cbc_pkcs7(CBC_DEC, keys, iv, buf + fixed, ct_len, ct_len, &n);
    }
    wipe(iv, sizeof iv);
    if (rc != IOTE_OK) {
        return rc;
    }
    if (n != 0) {
        memmove(buf, buf + fixed, n);
    }
    if (msg_len != NULL) {
        *msg_len = n;
    }
    return IOTE_OK;
}
#endif

/* ---- resync, device side (SPEC.md section 8) ----------------------------------------------------------- */

int iote_resync_request(const iote_keys *keys, iote_resync *rs, const char *dev, uint8_t dev_len, uint32_t seq,
                        uint32_t ts, const uint8_t iv[IOTE_IV_LEN], const uint8_t nonce[IOTE_NONCE_LEN],
                        uint32_t now_ms, int format, char *out, size_t out_cap, size_t *out_len)
{
    iote_fields f;
    int rc;
    if (rs == NULL || nonce == NULL) {
        return IOTE_ERR_ARGUMENT;
    }
    f.direction = IOTE_UP;
    f.type = IOTE_TYPE_RESYNC_REQUEST;
    f.dev = dev;
    f.dev_len = dev_len;
    f.seq = seq;
    f.ts = ts;
    rc = iote_seal(keys, &f, iv, nonce, IOTE_NONCE_LEN, format, out, out_cap, out_len);
    if (rc == IOTE_OK) { /* the newest request is the pending one */
        memcpy(rs->nonce, nonce, IOTE_NONCE_LEN);
        rs->sent_ms = now_ms;
        rs->pending = 1;
    }
    return rc;
}

int iote_resync_accept(const iote_keys *keys, iote_resync *rs, const char *text, size_t text_len, int format,
                       uint8_t *buf, size_t buf_cap, uint32_t now_ms, uint32_t *counter, uint32_t *backend_time)
{
    iote_header hdr;
    size_t n = 0;
    int rc;
    if (rs == NULL || counter == NULL) {
        return IOTE_ERR_ARGUMENT;
    }
    rc = iote_open(keys, IOTE_DOWN, text, text_len, format, buf, buf_cap, &hdr, &n);
    if (rc != IOTE_OK) {
        return rc;
    }
    /* SPEC.md section 8: wrong type or size is malformed; a response after T_wait (on the device's monotonic
     * clock, modulo 2^32) or with nothing pending is stale, and the request is dropped so that no response can
     * be accepted for it later; another nonce (compared in constant time) means the response does not
     * authenticate this request: auth. The device ignores the response in every case. */
    if (hdr.type != IOTE_TYPE_RESYNC_RESPONSE || n != 16) {
        rc = IOTE_ERR_MALFORMED;
    } else if (!rs->pending || (uint32_t)(now_ms - rs->sent_ms) > (uint32_t)IOTE_RESYNC_WAIT_MS) {
        wipe(rs, sizeof *rs);
        rc = IOTE_ERR_STALE;
    } else if (!iote_ct_equal(buf, rs->nonce, IOTE_NONCE_LEN)) {
        rc = IOTE_ERR_AUTH;
    }
    if (rc != IOTE_OK) {
        wipe(buf, n);
        return rc;
    }
    wipe(rs, sizeof *rs); /* answered: the nonce is used up */
    {
        uint32_t next = get_u32be(buf + 8);
        if (next > *counter) {
            *counter = next;
        }
        if (backend_time != NULL) {
            *backend_time = get_u32be(buf + 12);
        }
    }
    return IOTE_OK;
}

/* ---- replay window (RFC 4303 section 3.4.3) ----------------------------------------------------------- */

void iote_window_init(iote_window *w)
{
    memset(w, 0, sizeof *w);
}

static int window_bit(const iote_window *w, uint32_t offset)
{
    return (int)((w->bits[offset / 32u] >> (offset % 32u)) & 1u);
}

int iote_window_check(const iote_window *w, uint32_t seq)
{
    if (!w->any || seq > w->top) {
        return IOTE_REPLAY_OK;
    }
    if (w->top - seq >= 64u) {
        return IOTE_REPLAY_TOO_OLD;
    }
    return window_bit(w, w->top - seq) ? IOTE_REPLAY_DUPLICATE : IOTE_REPLAY_OK;
}

int iote_window_accept(iote_window *w, uint32_t seq)
{
    int rc = iote_window_check(w, seq);
    if (rc != IOTE_REPLAY_OK) {
        return rc;
    }
    if (!w->any || seq > w->top) {
        uint32_t shift = w->any ? seq - w->top : 64u;
        if (shift >= 64u) {
            w->bits[0] = 0;
            w->bits[1] = 0;
        } else if (shift >= 32u) {
            w->bits[1] = w->bits[0] << (shift - 32u);
            w->bits[0] = 0;
        } else if (shift > 0u) {
            w->bits[1] = (w->bits[1] << shift) | (w->bits[0] >> (32u - shift));
            w->bits[0] <<= shift;
        }
        w->top = seq;
        w->any = 1;
    }
    w->bits[(w->top - seq) / 32u] |= (uint32_t)1u << ((w->top - seq) % 32u);
    return IOTE_REPLAY_OK;
}
