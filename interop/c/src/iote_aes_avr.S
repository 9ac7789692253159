/*
 * AES-CBC (FIPS 197, SP 800-38A) in AVR assembly for iote_aes.h on AVR builds (IOTE_AES_ASM, avr-gcc /
 * avr-libc), with the S-boxes iote_aes.c keeps in flash. Written for this project; other targets use the C in
 * iote_aes.c, which computes the same thing.
 *
 *   int iote_aes_cbc(int decrypt, const uint8_t *key, size_t key_len, const uint8_t iv[16], uint8_t *data,
 *                    size_t len);
 *
 * Layout. The 16-byte state lives in r2..r17, column-major (state byte 4c + r, row r of column c, is register
 * r(2 + 4c + r)). Most of the work is done a column at a time by `pass`, always on r2..r5: after each column
 * the sixteen registers shift down by four (ten movw), so after four columns every column is back in place.
 * What a pass does to each column is chosen by flag bits in r24: load it from X, SubBytes, AddRoundKey from X,
 * the InvMixColumns pre-step, MixColumns, AddRoundKey from X, store it to X. An encryption round is ShiftRows on
 * the registers and one pass with SubBytes + MixColumns + AddRoundKey.
 *
 * A decryption round (FIPS 197 InvCipher, section 5.3) is InvShiftRows on the registers and one pass with
 * InvSubBytes + AddRoundKey + InvMixColumns, the round keys taken backwards. InvShiftRows is ShiftRows three
 * times. InvMixColumns is MixColumns after multiplying each column by {04}x^2 + {05}, the pre-step
 * (Daemen/Rijmen, "The Design of Rijndael" section 4.1.3), so there is one MixColumns for both directions.
 *
 * Timing: no branch depends on key or data bytes except inside xtime, where both ways take 3 cycles
 * (lsl; brcc taken = 2 cycles, or not taken 1 + eor 1); the AVR has no cache, and the S-box reads (lpm) take the
 * same time for every index.
 *
 * Stack frame (Y + offset, allocated by libgcc's __prologue_saves__, which also saves r2..r17 and Y):
 * the data pointer, the bytes left, nr, the direction, the CBC chaining block, the round keys. Everything in it
 * is zeroed before returning; r2..r17 (which held state and key bytes) are restored to the caller's values.
 *
 * Fixed registers: r21 = 0x1b (the reduction constant for xtime), r22:r23 = the S-box in use, r24 = pass flags
 * (and rcon during the key expansion), r25 = a loop counter, r0 = the column counter in `pass`,
 * r18..r20 and r30:r31 scratch, X = the key, data or chaining pointer a pass works along, r1 = 0.
 */
#include "iote_aes.h"

#if defined(__AVR__) && IOTE_AES_ASM

#ifndef IOTE_WITH_AES256 /* same default as iotenvelope.h */
#define IOTE_WITH_AES256 1
#endif

#if IOTE_WITH_AES256
#define RK_BYTES 240
#else
#define RK_BYTES 176
#endif

/* frame offsets from Y (the frame is Y+1 .. Y+FRAME) */
#define V_DATA 1  /* 2 bytes: the next block */
#define V_LEN 3   /* 2 bytes: bytes left */
#define V_NR 5    /* rounds: 10 or 14 */
#define V_DEC 6   /* nonzero to decrypt */
#define CHAIN 7   /* 16 bytes: the IV, then the previous ciphertext block */
#define RK 23     /* the round keys, right after CHAIN (the encryption pass over CHAIN runs on into RK) */
#define FRAME (RK - 1 + RK_BYTES)
#if FRAME % 2
#error "the wipe loop clears two bytes a turn"
#endif

/* flag bits for `pass` (r24), applied to each column in this order */
#define F_LOAD 0  /* r2..r5 = 4 bytes from X+ */
#define F_SUB 1   /* SubBytes with the S-box at r22:r23 */
#define F_ARKI 2  /* xor 4 bytes from X+ before the mixing (AddRoundKey of a decryption round) */
#define F_MIX 3   /* MixColumns, */
#define F_INV 4   /* ... after the InvMixColumns pre-step (only with F_MIX) */
#define F_ARK 5   /* xor 4 bytes from X+ after the mixing (AddRoundKey when encrypting, the CBC xor) */
#define F_STORE 6 /* 4 bytes to X+ */

#ifdef __AVR_HAVE_JMP_CALL__
#define XJMP jmp
#else
#define XJMP rjmp
#endif

/* r = r * {02} in GF(2^8) (modulo x^8 + x^4 + x^3 + x + 1); 3 cycles whichever way the branch goes */
.macro XTIME r
    lsl \r
    brcc 91f
    eor \r, r21
91:
.endm

/* column r2..r5 ^= the next four round-key bytes at X (X advances by 4) */
.macro ADD_ROUND_KEY4
    ld r20, X+
    eor r2, r20
    ld r20, X+
    eor r3, r20
    ld r20, X+
    eor r4, r20
    ld r20, X+
    eor r5, r20
.endm

    .section .text.iote_aes_cbc, "ax", @progbits
    .global iote_aes_cbc
    .type iote_aes_cbc, @function
iote_aes_cbc:
    mov r26, r14            /* len % 16 must be 0 */
    andi r26, 15
    brne .Lfail
    ldi r26, 10             /* 16-byte key: 10 rounds */
    cpi r20, 16
    cpc r21, r1
    breq .Lkey_ok
#if IOTE_WITH_AES256
    ldi r26, 14             /* 32-byte key: 14 rounds */
    cpi r20, 32
    cpc r21, r1
    breq .Lkey_ok
#endif
.Lfail:
    ldi r24, 0xff
    ldi r25, 0xff
    ret
.Lkey_ok:
    mov r20, r26            /* nr */
    or r24, r25             /* decrypt != 0 */
    ldi r26, lo8(FRAME)
    ldi r27, hi8(FRAME)
    ldi r30, lo8(gs(.Lframe))
    ldi r31, hi8(gs(.Lframe))
    XJMP __prologue_saves__
.Lframe:
    std Y+V_DATA, r16
    std Y+V_DATA+1, r17
    std Y+V_LEN, r14
    std Y+V_LEN+1, r15
    std Y+V_NR, r20
    std Y+V_DEC, r24
    movw r30, r18           /* CHAIN = iv */
    movw r26, r28
    adiw r26, CHAIN
    rcall copy16            /* X = the round keys now */

    /* ---- key expansion (FIPS 197 section 5.2): the key words, then w[i] = w[i - nk] ^ f(w[i - 1]) ---- */
    ldi r21, 0x1b
    movw r30, r22           /* Z = key */
    ldi r22, lo8(iote_aes_sbox)
    ldi r23, hi8(iote_aes_sbox)
    subi r20, 6             /* nk = nr - 6: 4 or 8 words */
    rcall copy16            /* the key ... */
    sbrc r20, 3
    rcall copy16            /* ... (32 bytes when nk = 8) */
    sbiw r26, 4
    ld r2, X+               /* r2..r5 = the last word written */
    ld r3, X+
    ld r4, X+
    ld r5, X+
    mov r25, r20
    lsl r25
    add r25, r20
    subi r25, -28           /* words left to derive: 4 (nr + 1) - nk = 3 nk + 28 */
    mov r18, r20
    lsl r18
    lsl r18                 /* 4 nk: the distance back to w[i - nk] */
    dec r20                 /* nk - 1: i mod nk = i & (nk - 1) */
    clr r19                 /* i mod nk, for i = nk */
    ldi r24, 1              /* rcon */
.Lexpand:
    tst r19
    brne .Lnot_first
    mov r0, r2              /* RotWord, SubWord, xor rcon */
    mov r2, r3
    mov r3, r4
    mov r4, r5
    mov r5, r0
    rcall sub4
    eor r2, r24
    XTIME r24
    rjmp .Lxor_back
.Lnot_first:
#if IOTE_WITH_AES256
    cpi r19, 4              /* AES-256, i mod 8 = 4: SubWord (never true for nk = 4) */
    brne .Lxor_back
    rcall sub4
#endif
.Lxor_back:
    movw r30, r26
    sub r30, r18
    sbc r31, r1
    ld r0, Z+
    eor r2, r0
    ld r0, Z+
    eor r3, r0
    ld r0, Z+
    eor r4, r0
    ld r0, Z+
    eor r5, r0
    st X+, r2
    st X+, r3
    st X+, r4
    st X+, r5
    inc r19
    and r19, r20
    dec r25
    brne .Lexpand

    /* ---- decrypting: the inverse S-box ---- */
    ldd r24, Y+V_DEC
    tst r24
    breq .Lblock
    ldi r22, lo8(iote_aes_inv_sbox)
    ldi r23, hi8(iote_aes_inv_sbox)

    /* ---- CBC, a block at a time ---- */
.Lblock:
    ldd r24, Y+V_LEN
    ldd r25, Y+V_LEN+1
    sbiw r24, 16
    brcs .Ldone             /* no bytes left */
    std Y+V_LEN, r24
    std Y+V_LEN+1, r25
    ldd r26, Y+V_DATA
    ldd r27, Y+V_DATA+1
    ldi r24, (1 << F_LOAD)
    rcall pass              /* state = the block */
    ldd r25, Y+V_DEC
    tst r25
    brne .Ldec_start
    movw r26, r28
    adiw r26, CHAIN
    ldi r24, (1 << F_ARK)
    rcall pass              /* xor the chaining block ... */
    rcall pass              /* ... and round key 0, which follows it */
    ldi r24, (1 << F_SUB) | (1 << F_MIX) | (1 << F_ARK)
    rjmp .Lrounds
.Ldec_start:
    ldd r0, Y+V_NR
    swap r0                 /* 16 nr (nr < 16) */
    movw r26, r28
    adiw r26, RK
    add r26, r0
    adc r27, r1
    ldi r24, (1 << F_ARK)
    rcall pass              /* xor round key nr */
    ldi r24, (1 << F_SUB) | (1 << F_ARKI) | (1 << F_MIX) | (1 << F_INV)
.Lrounds:
    ldd r25, Y+V_NR
.Lround:
    rcall shift_rows
    sbrc r24, F_INV
    rcall shift_rows2       /* InvShiftRows = ShiftRows three times */
    sbrc r24, F_INV
    sbiw r26, 32            /* decrypting: back to the round key before the one just used */
    cpi r25, 1
    brne .Lnot_last
    andi r24, ~(1 << F_MIX) /* the last round has no MixColumns */
.Lnot_last:
    rcall pass
    dec r25
    brne .Lround

    movw r26, r28
    adiw r26, CHAIN
    ldd r25, Y+V_DEC
    ldi r24, (1 << F_STORE) /* encrypting: CHAIN = the ciphertext block */
    tst r25
    breq .Lchain
    ldi r24, (1 << F_ARK)   /* decrypting: plaintext = state ^ CHAIN ... */
.Lchain:
    rcall pass
    ldd r26, Y+V_DATA
    ldd r27, Y+V_DATA+1
    tst r25
    breq .Lstore
    movw r30, r26           /* ... and CHAIN = this ciphertext block, still in data */
    movw r26, r28
    adiw r26, CHAIN
    rcall copy16
    movw r26, r30
    sbiw r26, 16
.Lstore:
    ldi r24, (1 << F_STORE)
    rcall pass              /* the block back into data */
    std Y+V_DATA, r26
    std Y+V_DATA+1, r27
    rjmp .Lblock

.Ldone:                     /* wipe the frame, return 0 */
    movw r26, r28
    adiw r26, 1
    ldi r24, lo8(FRAME)
    ldi r25, hi8(FRAME)
.Lwipe:                     /* (FRAME is even) */
    st X+, r1
    st X+, r1
    sbiw r24, 2
    brne .Lwipe
    subi r28, lo8(-FRAME)
    sbci r29, hi8(-FRAME)
    ldi r30, 18
    XJMP __epilogue_restores__
    .size iote_aes_cbc, . - iote_aes_cbc

/* 16 bytes from Z+ to X+ (r24, r0 clobbered) */
copy16:
    ldi r24, 16
1:  ld r0, Z+
    st X+, r0
    dec r24
    brne 1b
    ret

/* SubBytes on r2..r5 with the S-box at r22:r23 (Z clobbered) */
sub4:
    movw r30, r22
    add r30, r2
    adc r31, r1
    lpm r2, Z
    movw r30, r22
    add r30, r3
    adc r31, r1
    lpm r3, Z
    movw r30, r22
    add r30, r4
    adc r31, r1
    lpm r4, Z
    movw r30, r22
    add r30, r5
    adc r31, r1
    lpm r5, Z
    ret

/* ShiftRows on r2..r17: row r moves left by r columns (r20 clobbered). shift_rows2 runs it twice. */
shift_rows2:
    rcall shift_rows
shift_rows:
    mov r20, r3             /* row 1 */
    mov r3, r7
    mov r7, r11
    mov r11, r15
    mov r15, r20
    mov r20, r4             /* row 2: swap columns 0, 2 and 1, 3 */
    mov r4, r12
    mov r12, r20
    mov r20, r8
    mov r8, r16
    mov r16, r20
    mov r20, r17            /* row 3: right by one = left by three */
    mov r17, r13
    mov r13, r9
    mov r9, r5
    mov r5, r20
    ret

/* The four columns through the steps r24 selects (see F_*); r0, r18..r20, r30:r31 clobbered, X advanced. */
pass:
    ldi r20, 4
    mov r0, r20
.Lcolumn:
    sbrs r24, F_LOAD
    rjmp .Lno_load
    ld r2, X+
    ld r3, X+
    ld r4, X+
    ld r5, X+
.Lno_load:
    sbrc r24, F_SUB
    rcall sub4
    sbrs r24, F_ARKI
    rjmp .Lno_arki
    ADD_ROUND_KEY4
.Lno_arki:
    sbrs r24, F_MIX
    rjmp .Lno_mix
    sbrs r24, F_INV
    rjmp .Lmix
    mov r20, r2             /* pre-step: a0 ^= u, a2 ^= u with u = {04} (a0 ^ a2); the same for a1, a3 */
    eor r20, r4
    XTIME r20
    XTIME r20
    eor r2, r20
    eor r4, r20
    mov r20, r3
    eor r20, r5
    XTIME r20
    XTIME r20
    eor r3, r20
    eor r5, r20
.Lmix:                      /* MixColumns: a_i ^= (a0 ^ a1 ^ a2 ^ a3) ^ {02} (a_i ^ a_i+1) */
    mov r18, r2             /* a0 before it changes */
    mov r19, r2
    eor r19, r3
    eor r19, r4
    eor r19, r5
    mov r20, r2
    eor r20, r3
    XTIME r20
    eor r20, r19
    eor r2, r20
    mov r20, r3
    eor r20, r4
    XTIME r20
    eor r20, r19
    eor r3, r20
    mov r20, r4
    eor r20, r5
    XTIME r20
    eor r20, r19
    eor r4, r20
    mov r20, r5
    eor r20, r18
    XTIME r20
    eor r20, r19
    eor r5, r20
.Lno_mix:
    sbrs r24, F_ARK
    rjmp .Lno_ark
    ADD_ROUND_KEY4
.Lno_ark:
    sbrs r24, F_STORE
    rjmp .Lnext
    st X+, r2
    st X+, r3
    st X+, r4
    st X+, r5
.Lnext:                     /* the next column down into r2..r5, this one up to r14..r17 */
    movw r18, r2
    movw r30, r4
    movw r2, r6
    movw r4, r8
    movw r6, r10
    movw r8, r12
    movw r10, r14
    movw r12, r16
    movw r14, r18
    movw r16, r30
    dec r0
    breq 1f
    rjmp .Lcolumn           /* (out of a branch's reach) */
1:  ret

#endif
