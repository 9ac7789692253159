/*
 * The 64 rounds of the SHA-256 compression function (FIPS 180-4 section 6.2.2, steps 2-3) in AVR assembly,
 * for iote_sha256.c on AVR (avr-gcc / avr-libc). Written for this project.
 *
 *   void iote_sha256_rounds_avr(uint32_t *w, uint32_t v[16]);
 *
 * w: the 64-byte block (big-endian words, as in the message); rounds 0-15 turn each word into native
 *    little-endian order in place, later rounds overwrite them with the rolling message schedule.
 * v: 16 words; on entry v[8..15] = a..h (the chaining value), on return v[8..15] = the working variables after
 *    round 63 (the caller adds them to the chaining value). v[0..7] is scratch.
 *
 * How the working variables "rotate" without moving 28 bytes per round: Y points at a (then b at Y+4 ... h at
 * Y+28). A round stores the new e over d (Y+12, in place), steps Y back by one word and stores the new a at the
 * new Y: the window Y..Y+31 is then exactly a'..h'. After 8 rounds Y has reached v[0]; the window is copied up
 * to v[8..15] and Y set back (32 byte moves per 8 rounds instead of 28 per round).
 *
 * Registers: T = r2..r5 (t1, then t1 + t2), A = r6..r9, B = r10..r13, C = r14..r17 (operands, byte 0 = least
 * significant), r18 = round i, r20:r21 = w, X = the schedule word's address, Z = the round constant's address,
 * r19 and r22..r25 scratch. r2..r17 and Y are call-saved (pushed), r1 stays zero.
 */
#if defined(__AVR__)

#define T0 r2
#define T1 r3
#define T2 r4
#define T3 r5
#define A0 r6
#define A1 r7
#define A2 r8
#define A3 r9
#define B0 r10
#define B1 r11
#define B2 r12
#define B3 r13
#define C0 r14
#define C1 r15
#define C2 r16
#define C3 r17
#define RI r18
#define RT r19
#define WL r20
#define WH r21

/* x = x op y for 4-byte register groups */
.macro XOR4 a0, a1, a2, a3, b0, b1, b2, b3
    eor \a0, \b0
    eor \a1, \b1
    eor \a2, \b2
    eor \a3, \b3
.endm
.macro AND4 a0, a1, a2, a3, b0, b1, b2, b3
    and \a0, \b0
    and \a1, \b1
    and \a2, \b2
    and \a3, \b3
.endm
.macro OR4 a0, a1, a2, a3, b0, b1, b2, b3
    or \a0, \b0
    or \a1, \b1
    or \a2, \b2
    or \a3, \b3
.endm
.macro ADD4 a0, a1, a2, a3, b0, b1, b2, b3
    add \a0, \b0
    adc \a1, \b1
    adc \a2, \b2
    adc \a3, \b3
.endm
/* rotate left / right by one bit */
.macro ROL1 a0, a1, a2, a3
    lsl \a0
    rol \a1
    rol \a2
    rol \a3
    adc \a0, r1
.endm
.macro ROR1 a0, a1, a2, a3
    bst \a0, 0
    lsr \a3
    ror \a2
    ror \a1
    ror \a0
    bld \a3, 7
.endm
/* load / store the word at Y+off */
.macro LDY a0, a1, a2, a3, off
    ldd \a0, Y+\off
    ldd \a1, Y+\off+1
    ldd \a2, Y+\off+2
    ldd \a3, Y+\off+3
.endm
.macro STY off, a0, a1, a2, a3
    std Y+\off, \a0
    std Y+\off+1, \a1
    std Y+\off+2, \a2
    std Y+\off+3, \a3
.endm
/* T += the word at Y+off (scratch r22) */
.macro ADDY off
    ldd r22, Y+\off
    add T0, r22
    ldd r22, Y+\off+1
    adc T1, r22
    ldd r22, Y+\off+2
    adc T2, r22
    ldd r22, Y+\off+3
    adc T3, r22
.endm
/* X = &w[(i + k) & 15] */
.macro WADDR k
    mov RT, RI
    subi RT, -(\k)
    andi RT, 15
    lsl RT
    lsl RT
    movw r26, WL
    add r26, RT
    adc r27, r1
.endm
/* load the word at X into a group (X unchanged) */
.macro LDX a0, a1, a2, a3
    ld \a0, X+
    ld \a1, X+
    ld \a2, X+
    ld \a3, X
    sbiw r26, 3
.endm

    .section .progmem.data.iote_sha256_k, "a", @progbits
    .type iote_sha256_k, @object
iote_sha256_k:
    .long 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
    .long 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
    .long 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
    .long 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
    .long 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
    .long 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
    .long 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
    .long 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    .size iote_sha256_k, 256

    .section .text.iote_sha256_rounds_avr, "ax", @progbits
/* B or C rotated right / left by 1-3 bits: one entry per count, falling through (no loop) */
ror_b2:
    ROR1 B0, B1, B2, B3
    ROR1 B0, B1, B2, B3
    ret
rol_b2:
    ROL1 B0, B1, B2, B3
    ROL1 B0, B1, B2, B3
    ret
ror_c3:
    ROR1 C0, C1, C2, C3
ror_c2:
    ROR1 C0, C1, C2, C3
    ROR1 C0, C1, C2, C3
    ret
rol_c3:
    ROL1 C0, C1, C2, C3
rol_c2:
    ROL1 C0, C1, C2, C3
    ROL1 C0, C1, C2, C3
    ret
/* X = &w[(i + RT) & 15] and A = that word */
load_w:
    add RT, RI
    andi RT, 15
    lsl RT
    lsl RT
    movw r26, WL
    add r26, RT
    adc r27, r1
    LDX A0, A1, A2, A3
    ret

    .global iote_sha256_rounds_avr
    .type iote_sha256_rounds_avr, @function
iote_sha256_rounds_avr:
    push r2
    push r3
    push r4
    push r5
    push r6
    push r7
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    push r16
    push r17
    push r28
    push r29
    movw WL, r24            /* w */
    movw r28, r22           /* v */
    adiw r28, 32            /* Y = &v[8]: a */
    clr RI

1:  /* ---- T = w[i], extending the schedule from round 16 on ---- */
    cpi RI, 16
    brsh 2f
    WADDR 0                 /* rounds 0-15: the block's big-endian word, stored back in native order */
    ld T3, X+
    ld T2, X+
    ld T1, X+
    ld T0, X
    sbiw r26, 3
    st X+, T0
    st X+, T1
    st X+, T2
    st X, T3
    rjmp 3f
2:  /* sigma0(w[i+1]) = ror7 ^ ror18 ^ shr3 */
    ldi RT, 1
    rcall load_w
    mov B0, A1              /* ror7 = rol1(ror8) */
    mov B1, A2
    mov B2, A3
    mov B3, A0
    ROL1 B0, B1, B2, B3
    movw T0, B0
    movw T2, B2
    movw B0, A2             /* ror18 = ror2(ror16) */
    movw B2, A0
    rcall ror_b2
    XOR4 T0, T1, T2, T3, B0, B1, B2, B3
    ldi RT, 3               /* shr3 */
7:  lsr A3
    ror A2
    ror A1
    ror A0
    dec RT
    brne 7b
    XOR4 T0, T1, T2, T3, A0, A1, A2, A3
    /* + sigma1(w[i+14]) = ror17 ^ ror19 ^ shr10 */
    ldi RT, 14
    rcall load_w
    movw C0, A2             /* ror17 = ror1(ror16) */
    movw C2, A0
    ROR1 C0, C1, C2, C3
    movw B0, C0             /* ror19 = ror2(ror17) */
    movw B2, C2
    rcall ror_b2
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    mov C0, A1              /* shr10 = shr2(shr8) */
    mov C1, A2
    mov C2, A3
    clr C3
    rcall ror_c2            /* a rotation of (0, x3, x2, x1) by 2 leaves 2 bits at the top: clear them */
    andi C3, 0x3f
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    ADD4 T0, T1, T2, T3, B0, B1, B2, B3
    /* + w[i+9] + w[i] */
    ldi RT, 9
    rcall load_w
    ADD4 T0, T1, T2, T3, A0, A1, A2, A3
    ldi RT, 0
    rcall load_w
    ADD4 T0, T1, T2, T3, A0, A1, A2, A3
    st X+, T0
    st X+, T1
    st X+, T2
    st X, T3
3:  /* ---- T += K[i] + h ---- */
    mov RT, RI
    lsl RT
    lsl RT
    ldi r30, lo8(iote_sha256_k)
    ldi r31, hi8(iote_sha256_k)
    add r30, RT
    adc r31, r1
    lpm r22, Z+
    add T0, r22
    lpm r22, Z+
    adc T1, r22
    lpm r22, Z+
    adc T2, r22
    lpm r22, Z
    adc T3, r22
    ADDY 28
    /* ---- T += Sigma1(e) = ror6 ^ ror11 ^ ror25 ---- */
    LDY A0, A1, A2, A3, 16
    mov B0, A1              /* ror6 = rol2(ror8) */
    mov B1, A2
    mov B2, A3
    mov B3, A0
    movw C0, B0             /* ror11 = ror3(ror8) */
    movw C2, B2
    rcall rol_b2
    rcall ror_c3
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    mov C0, A3              /* ror25 = ror1(ror24) */
    mov C1, A0
    mov C2, A1
    mov C3, A2
    ROR1 C0, C1, C2, C3
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    ADD4 T0, T1, T2, T3, B0, B1, B2, B3
    /* ---- T += Ch(e, f, g) = g ^ (e & (f ^ g)) ---- */
    LDY B0, B1, B2, B3, 20
    LDY C0, C1, C2, C3, 24
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    AND4 B0, B1, B2, B3, A0, A1, A2, A3
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    ADD4 T0, T1, T2, T3, B0, B1, B2, B3
    /* ---- T = t1: the new e = d + t1, over d ---- */
    LDY B0, B1, B2, B3, 12
    ADD4 B0, B1, B2, B3, T0, T1, T2, T3
    STY 12, B0, B1, B2, B3
    /* ---- T += Sigma0(a) = ror2 ^ ror13 ^ ror22 ---- */
    LDY A0, A1, A2, A3, 0
    movw B0, A0             /* ror2 */
    movw B2, A2
    rcall ror_b2
    movw C0, A2             /* ror13 = rol3(ror16) */
    movw C2, A0
    rcall rol_c3
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    mov C0, A3              /* ror22 = rol2(ror24) */
    mov C1, A0
    mov C2, A1
    mov C3, A2
    rcall rol_c2
    XOR4 B0, B1, B2, B3, C0, C1, C2, C3
    ADD4 T0, T1, T2, T3, B0, B1, B2, B3
    /* ---- T += Maj(a, b, c) = (a & b) | (c & (a | b)) ---- */
    LDY B0, B1, B2, B3, 4
    LDY C0, C1, C2, C3, 8
    movw r22, A0
    movw r24, A2
    OR4 r22, r23, r24, r25, B0, B1, B2, B3
    AND4 r22, r23, r24, r25, C0, C1, C2, C3
    AND4 B0, B1, B2, B3, A0, A1, A2, A3
    OR4 B0, B1, B2, B3, r22, r23, r24, r25
    ADD4 T0, T1, T2, T3, B0, B1, B2, B3
    /* ---- the new a one word below ---- */
    sbiw r28, 4
    STY 0, T0, T1, T2, T3
    inc RI
    mov RT, RI
    andi RT, 7
    brne 5f
    /* every 8 rounds Y is at v[0]: move the window up to v[8..15] */
    ldi RT, 32
4:  ld r22, Y
    std Y+32, r22
    adiw r28, 1
    dec RT
    brne 4b
5:  cpi RI, 64
    breq 6f
    rjmp 1b
6:  pop r29
    pop r28
    pop r17
    pop r16
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop r7
    pop r6
    pop r5
    pop r4
    pop r3
    pop r2
    ret
    .size iote_sha256_rounds_avr, .-iote_sha256_rounds_avr

#endif
