/*
 * iotenvelope for C99 devices: envelope v1 (SPEC.md) seal/open, no heap, caller-provided buffers.
 *
 * Crypto comes from one backend chosen at build time (see iote_backend.h): mbedTLS (ESP32), BearSSL (ESP8266
 * core), OpenSSL libcrypto (Linux gateways) or tiny-AES-c plus this library's own SHA-256 (AVR, small MCUs).
 *
 * Build-time options (define to 0/1 with -D...):
 *   IOTE_WITH_JSON    the JSON form of SPEC.md section 5.2 (default 1). 0 leaves only the compact form.
 *   IOTE_WITH_AES256  32-byte device secrets / AES-256 (default 1). 0 rejects them with IOTE_ERR_BAD_KEY.
 *
 * Error names follow SPEC.md section 6.1; iote_error_name() returns them.
 */
#ifndef IOTENVELOPE_H
#define IOTENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IOTE_WITH_JSON
#define IOTE_WITH_JSON 1
#endif
#ifndef IOTE_WITH_AES256
#define IOTE_WITH_AES256 1
#endif

#define IOTE_VERSION_STRING "0.1.0"

/* field values (SPEC.md section 3) */
#define IOTE_UP 1u
#define IOTE_DOWN 2u
#define IOTE_TYPE_DATA 0u
#define IOTE_TYPE_RESYNC_REQUEST 1u
#define IOTE_TYPE_RESYNC_RESPONSE 2u

#define IOTE_IV_LEN 16u
#define IOTE_TAG_LEN 16u
#define IOTE_MAX_DEV 64u
#define IOTE_NONCE_LEN 8u
#define IOTE_MIN_RAW 61u

/* encodings */
#define IOTE_FMT_COMPACT 0
#define IOTE_FMT_JSON 1
#define IOTE_FMT_AUTO 2 /* open only: JSON if the first non-blank character is '{' */

typedef enum {
    IOTE_OK = 0,
    IOTE_ERR_MALFORMED = 1,   /* "malformed" */
    IOTE_ERR_VERSION = 2,     /* "unsupported-version" */
    IOTE_ERR_BAD_KEY = 3,     /* "bad-key": secret of illegal length, AES-256 compiled out */
    IOTE_ERR_AUTH = 4,        /* "auth": tag mismatch */
    IOTE_ERR_DIRECTION = 5,   /* "wrong-direction" */
    IOTE_ERR_PADDING = 6,     /* "padding": MAC valid, PKCS#7 invalid (a broken sender) */
    IOTE_ERR_BUFFER = 7,      /* "buffer": the caller's output buffer is too small (nothing written) */
    IOTE_ERR_ARGUMENT = 8,    /* "argument": NULL pointer or a field value the sender may not use */
    IOTE_ERR_BACKEND = 9      /* "backend": the crypto backend reported a failure */
    /* 10 is reserved (it was IOTE_ERR_RESYNC; iote_resync_accept now reports _MALFORMED or _AUTH) */
} iote_err;

/* Keys derived from one device secret (SPEC.md section 2.2). Derive once, keep, wipe with iote_keys_wipe. */
typedef struct {
    uint8_t enc[32];
    uint8_t mac[64]; /* K_mac, or with a backend that can (IOTE_BE_MIDSTATE) the two HMAC key-block states */
    uint8_t enc_len; /* 16 (AES-128) or 32 (AES-256) */
} iote_keys;

/* The header of an envelope. For sealing, dev points at dev_len bytes (no terminator needed). */
typedef struct {
    uint8_t direction; /* IOTE_UP / IOTE_DOWN */
    uint8_t type;      /* IOTE_TYPE_* */
    uint8_t dev_len;   /* 1..64 */
    const char *dev;
    uint32_t seq;
    uint32_t ts;       /* Unix seconds; 0 = time unknown */
} iote_fields;

/* What iote_open reports besides the plaintext; dev is a NUL-terminated copy. */
typedef struct {
    uint8_t direction;
    uint8_t type;
    uint8_t dev_len;
    char dev[IOTE_MAX_DEV + 1];
    uint32_t seq;
    uint32_t ts;
} iote_header;

const char *iote_error_name(int err);

/* Derive K_enc/K_mac from a 16- or 32-byte secret. */
int iote_keys_init(iote_keys *keys, const uint8_t *secret, size_t secret_len);
void iote_keys_wipe(iote_keys *keys);

/* Exact length of the sealed text (without the terminating NUL) for these fields and plaintext length;
 * 0 if the fields are invalid or the length would not fit a size_t. */
size_t iote_sealed_len(const iote_fields *f, size_t msg_len, int format);

/*
 * Seal msg into out (NUL-terminated text; *out_len excludes the NUL). iv: 16 bytes from a CSPRNG.
 * out_cap must be at least iote_sealed_len(...) + 1, else IOTE_ERR_BUFFER and out is not written.
 * msg may lie anywhere inside out (in-place sealing saves RAM on small MCUs).
 */
int iote_seal(const iote_keys *keys, const iote_fields *f, const uint8_t iv[IOTE_IV_LEN],
              const uint8_t *msg, size_t msg_len, int format, char *out, size_t out_cap, size_t *out_len);

/*
 * Open an envelope text expecting direction expect_dir (a device expects IOTE_DOWN, a backend IOTE_UP).
 * Steps in SPEC.md section 6 order: decode, direction, MAC (constant time), decrypt, strict PKCS#7.
 * No freshness or replay check here (see iote_window for the latter).
 * The plaintext ends up in buf[0 .. *msg_len). buf may be the text itself (in place: the text is consumed).
 * buf_cap must hold the decoded bytes (compact: 3/4 of the text length; JSON: the ct bytes), else
 * IOTE_ERR_BUFFER before anything is written. On failure after decryption buf is wiped.
 */
int iote_open(const iote_keys *keys, uint8_t expect_dir, const char *text, size_t text_len, int format,
              uint8_t *buf, size_t buf_cap, iote_header *hdr, size_t *msg_len);

/* Device half of resync (SPEC.md section 8). */
int iote_resync_request(const iote_keys *keys, const char *dev, uint8_t dev_len, uint32_t seq, uint32_t ts,
                        const uint8_t iv[IOTE_IV_LEN], const uint8_t nonce[IOTE_NONCE_LEN], int format,
                        char *out, size_t out_cap, size_t *out_len);
/* Opens a resync-response (direction down, any iote_open error first). IOTE_ERR_MALFORMED when it is not a
 * resync-response or its plaintext is not 16 bytes, IOTE_ERR_AUTH when it answers another nonce (compared in
 * constant time); the device ignores it then (buf wiped). On success *counter = max(*counter, next_seq). */
int iote_resync_accept(const iote_keys *keys, const char *text, size_t text_len, int format,
                       uint8_t *buf, size_t buf_cap, const uint8_t nonce[IOTE_NONCE_LEN],
                       uint32_t *counter, uint32_t *backend_time);

/* Receiver replay window (RFC 4303 section 3.4.3 rules, W = 64) for the messages a device receives. */
typedef struct {
    uint32_t top;
    uint32_t bits[2]; /* bit i: seq top-i was accepted */
    uint8_t any;
} iote_window;
#define IOTE_REPLAY_OK 0
#define IOTE_REPLAY_DUPLICATE 11 /* "replay-duplicate" */
#define IOTE_REPLAY_TOO_OLD 12   /* "replay-too-old" */
void iote_window_init(iote_window *w);
int iote_window_check(const iote_window *w, uint32_t seq);  /* no state change */
int iote_window_accept(iote_window *w, uint32_t seq);       /* check, then record (call after iote_open) */

/* Building blocks, exported for tests and for callers who need them (all constant-size, no heap). */
void iote_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t out[32]);
int iote_ct_equal(const uint8_t *a, const uint8_t *b, size_t n); /* 1 if equal; time independent of contents */
size_t iote_b64url_encoded_len(size_t raw_len);
/* base64url without '=' (SPEC.md); out may equal in (encoding runs backwards). out_cap excludes any NUL. */
int iote_b64url_encode(const uint8_t *in, size_t len, char *out, size_t out_cap, size_t *out_len);
/* strict: alphabet, length mod 4 != 1, canonical trailing bits. out may equal in. */
int iote_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);
/* strict PKCS#7 check of a decrypted buffer; *msg_len = len - padding. */
int iote_pkcs7_unpad(const uint8_t *data, size_t len, size_t *msg_len);
/* AES-CBC with PKCS#7, in place, exactly as iote_seal / iote_open do it (the backend's AES, this library's
 * padding). key_len 16, or 32 with IOTE_WITH_AES256 (no AES-192: SPEC.md), else IOTE_ERR_BAD_KEY.
 * encrypt: pads the msg_len bytes at buf and encrypts them; buf_cap must hold (msg_len / 16 + 1) * 16 bytes,
 *   else IOTE_ERR_BUFFER before anything is written; *ct_len gets that length.
 * decrypt: decrypts ct_len bytes (a multiple of 16) and checks the padding strictly (IOTE_ERR_PADDING, and an
 *   empty ciphertext is one); *msg_len = the plaintext length. On any failure buf is wiped. */
int iote_cbc_pkcs7_encrypt(const uint8_t *key, size_t key_len, const uint8_t iv[IOTE_IV_LEN], uint8_t *buf,
                           size_t msg_len, size_t buf_cap, size_t *ct_len);
int iote_cbc_pkcs7_decrypt(const uint8_t *key, size_t key_len, const uint8_t iv[IOTE_IV_LEN], uint8_t *buf,
                           size_t ct_len, size_t *msg_len);

#ifdef __cplusplus
}
#endif
#endif
