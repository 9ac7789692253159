/*
 * iotenvelope for C99 devices: envelope v1 (SPEC.md) seal/open, no heap, caller-provided buffers.
 *
 * Crypto comes from one backend chosen at build time (see iote_backend.h): mbedTLS (ESP32), BearSSL (ESP8266
 * core), OpenSSL libcrypto (Linux gateways) or tiny-AES-c plus this library's own SHA-256 (AVR, small MCUs).
 *
 * Build-time options (define to 0/1 with -D...):
 *   IOTE_WITH_JSON    the JSON form of SPEC.md section 5.2 (default 1). 0 leaves only the compact form.
 *   IOTE_WITH_AES256  32-byte device secrets / AES-256 (default 1). 0 rejects them with IOTE_ERR_BAD_KEY.
 *   IOTE_WITH_LEAN    the lean form of SPEC.md section 5.3 (default 1; iote_lean_*). With -ffunction-sections
 *                     and --gc-sections a program that never calls it pays nothing either way.
 *   IOTE_RESYNC_WAIT_MS  T_wait of SPEC.md section 8 in milliseconds (default 60000).
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

#ifndef IOTE_WITH_LEAN
#define IOTE_WITH_LEAN 1
#endif
#ifndef IOTE_RESYNC_WAIT_MS
#define IOTE_RESYNC_WAIT_MS 60000u
#endif

#define IOTE_VERSION_STRING "0.2.0"

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
#define IOTE_MAX_TEXT 65536u /* SPEC.md section 5: envelope text (after the one trailing newline is removed) */
#define IOTE_MAX_RAW 49152u  /* ... and a raw binary envelope */
#define IOTE_LEAN_TAG_LEN 8u

/* encodings */
#define IOTE_FMT_COMPACT 0
#define IOTE_FMT_JSON 1
#define IOTE_FMT_AUTO 2 /* open only: JSON if the first non-blank character is '{' */
#define IOTE_FMT_LEAN 3     /* lean form as text: b64u of the raw bytes (iote_lean_* only) */
#define IOTE_FMT_LEAN_RAW 4 /* lean form as raw bytes (iote_lean_* only) */

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
    IOTE_ERR_BACKEND = 9,     /* "backend": the crypto backend reported a failure */
    /* 10 is reserved (it was IOTE_ERR_RESYNC; iote_resync_accept now reports _MALFORMED or _AUTH) */
    /* 11, 12: IOTE_REPLAY_DUPLICATE, IOTE_REPLAY_TOO_OLD (below) */
    IOTE_ERR_STALE = 13       /* "stale": a resync response after T_wait, or with no request pending */
} iote_err;

/* Keys derived from one device secret (SPEC.md section 2.2). Derive once, keep, wipe with iote_keys_wipe.
 * With the OpenSSL backend the keys also own long-lived EVP contexts (be): iote_keys_wipe frees them, so call it
 * when done, also before iote_keys_init on the same struct again, and never copy an iote_keys by value. One
 * iote_keys may be used by several threads at once (a thread that finds a context busy uses a one-shot one). */
typedef struct {
    uint8_t enc[32];
    uint8_t mac[64]; /* K_mac, or with a backend that can (IOTE_BE_MIDSTATE) the two HMAC key-block states */
    uint8_t enc_len; /* 16 (AES-128) or 32 (AES-256) */
#if !defined(__AVR__)
    void *be; /* backend state per key (OpenSSL: EVP contexts), NULL for the other backends */
#endif
} iote_keys;

/* The keys of the lean form (K_enc_lean, K_mac_lean: SPEC.md section 2.2), a type of their own so that they
 * cannot be passed where the compact/JSON keys are expected, or the other way round. */
typedef struct {
    iote_keys k;
} iote_lean_keys;

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
 * out_cap must be at least iote_sealed_len(...) + 1, else IOTE_ERR_BUFFER and out is not written. An envelope
 * longer than IOTE_MAX_TEXT is refused with IOTE_ERR_MALFORMED (SPEC.md section 5), whatever out_cap is.
 * msg may lie anywhere inside out (in-place sealing saves RAM on small MCUs).
 */
int iote_seal(const iote_keys *keys, const iote_fields *f, const uint8_t iv[IOTE_IV_LEN],
              const uint8_t *msg, size_t msg_len, int format, char *out, size_t out_cap, size_t *out_len);

/*
 * Open an envelope text expecting direction expect_dir (a device expects IOTE_DOWN, a backend IOTE_UP).
 * One trailing LF or CRLF is removed first (SPEC.md section 5), nothing else; a text then longer than
 * IOTE_MAX_TEXT is malformed before it is parsed. The JSON decoder reads the text once, front to back, and stops
 * at the first unknown or repeated member (so at a tenth member at the latest) and at an object or array value.
 * Steps in SPEC.md section 6 order: decode, direction, MAC (constant time), decrypt, strict PKCS#7.
 * No freshness or replay check here (see iote_window for the latter).
 * The plaintext ends up in buf[0 .. *msg_len). buf may be the text itself (in place: the text is consumed).
 * buf_cap must hold the decoded bytes (compact: 3/4 of the text length; JSON: the ct bytes), else
 * IOTE_ERR_BUFFER before anything is written. On failure after decryption buf is wiped.
 */
int iote_open(const iote_keys *keys, uint8_t expect_dir, const char *text, size_t text_len, int format,
              uint8_t *buf, size_t buf_cap, iote_header *hdr, size_t *msg_len);

/* Device half of resync (SPEC.md section 8). The pending request: its nonce and when it was sent, on the
 * caller's monotonic millisecond clock (Arduino millis(), clock_gettime(CLOCK_MONOTONIC), esp_timer_get_time()
 * / 1000: any uint32_t that counts milliseconds and wraps; the difference is taken modulo 2^32). */
typedef struct {
    uint8_t nonce[IOTE_NONCE_LEN];
    uint32_t sent_ms;
    uint8_t pending; /* 1 from iote_resync_request until a response is accepted or found stale */
} iote_resync;

/* Seals a resync-request for nonce (8 bytes from a CSPRNG) and records it in *rs as the pending request, sent
 * at now_ms (a new request replaces an older one: only the newest nonce counts). */
int iote_resync_request(const iote_keys *keys, iote_resync *rs, const char *dev, uint8_t dev_len, uint32_t seq,
                        uint32_t ts, const uint8_t iv[IOTE_IV_LEN], const uint8_t nonce[IOTE_NONCE_LEN],
                        uint32_t now_ms, int format, char *out, size_t out_cap, size_t *out_len);
/* Opens a resync-response received at now_ms (same clock as iote_resync_request), in this order: any iote_open
 * error (direction down, MAC first); IOTE_ERR_MALFORMED when it is not a resync-response or its plaintext is
 * not 16 bytes; IOTE_ERR_STALE when no request is pending or more than IOTE_RESYNC_WAIT_MS have passed since it
 * was sent (the request is then discarded: no later response can be accepted for it); IOTE_ERR_AUTH when it
 * answers another nonce (compared in constant time; the request stays pending). On any refusal buf is wiped
 * and counter/backend_time are untouched. On success *counter = max(*counter, next_seq), the request is no
 * longer pending, and *backend_time (if not NULL) is the backend's clock. */
int iote_resync_accept(const iote_keys *keys, iote_resync *rs, const char *text, size_t text_len, int format,
                       uint8_t *buf, size_t buf_cap, uint32_t now_ms, uint32_t *counter, uint32_t *backend_time);

#if IOTE_WITH_LEAN
/*
 * The lean form (SPEC.md section 5.3): no device id on the wire (the caller names it), IV derived from seq,
 * 8-byte tag. format IOTE_FMT_LEAN (b64u text, NUL-terminated, out_cap >= length + 1) or IOTE_FMT_LEAN_RAW
 * (raw bytes, no terminator, out_cap >= length). ts = 0 leaves the timestamp out.
 */
int iote_lean_keys_init(iote_lean_keys *keys, const uint8_t *secret, size_t secret_len);
void iote_lean_keys_wipe(iote_lean_keys *keys);
/* Exact length of the lean envelope (text: without the NUL); 0 for invalid fields or format. */
size_t iote_lean_sealed_len(const iote_fields *f, size_t msg_len, int format);
/* Seal: f->dev is bound under the tag but not written. msg may lie anywhere inside out. Envelopes longer than
 * IOTE_MAX_RAW raw / IOTE_MAX_TEXT text are refused (IOTE_ERR_MALFORMED). */
int iote_lean_seal(const iote_lean_keys *keys, const iote_fields *f, const uint8_t *msg, size_t msg_len,
                   int format, void *out, size_t out_cap, size_t *out_len);
/* Open (SPEC.md section 6 order) a lean envelope from device dev (dev_len bytes, the id the transport named).
 * Text: one trailing LF or CRLF is removed first; raw input is taken as it is. buf may be the input (in place);
 * buf_cap must hold the raw bytes (text: 3/4 of its length). hdr->dev is a copy of dev. */
int iote_lean_open(const iote_lean_keys *keys, uint8_t expect_dir, const char *dev, uint8_t dev_len,
                   const void *in, size_t in_len, int format, uint8_t *buf, size_t buf_cap, iote_header *hdr,
                   size_t *msg_len);
#endif

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
