'use strict';
// Resync ("Case 1", SPEC.md §8): a device that lost its counter asks the backend for the next sequence number.
//
// Device side: resyncRequest() seals an up/resync-request carrying a fresh 8-byte nonce; acceptResyncResponse()
// opens the backend's down/resync-response (MAC first), insists on the same nonce and returns the counter to
// continue from. Backend side (e.g. a Node-RED flow): answerResync().

const E = require('./errors');
const S = require('./bytes');

const NONCE_LEN = 8;

function bind(env) {
  /** -> {text, nonce}; keep `nonce` until the response arrives. opts: device, seq (default 0), ts (default 0), format. */
  function resyncRequest(secret, opts) {
    opts = opts || {};
    const nonce = opts.nonce ? Uint8Array.from(opts.nonce) : S.randomBytes(NONCE_LEN);
    if (nonce.length !== NONCE_LEN) throw new E.MalformedError(`resync nonce must be ${NONCE_LEN} bytes`);
    const text = env.seal(secret, nonce, {
      device: opts.device, seq: opts.seq === undefined ? 0 : opts.seq, ts: opts.ts === undefined ? 0 : opts.ts,
      direction: 'up', type: 'resync-request', format: opts.format, iv: opts.iv,
    });
    return { text, nonce: S.out(nonce) };
  }

  /**
   * Open a resync-response for the request that carried `nonce`. opts: counter (the device's current next seq,
   * default 0), device (the expected device id), format. Returns {counter: max(counter, nextSeq), nextSeq,
   * backendTime, seq, ts}. A response bound to another nonce throws AuthenticationError: ignore it.
   */
  function acceptResyncResponse(secret, text, nonce, opts) {
    opts = opts || {};
    const opened = env.open(secret, text, { direction: 'down', format: opts.format, freshness: null });
    if (opened.type !== 'resync-response') throw new E.MalformedError(`expected a resync-response, got ${opened.type}`);
    if (opts.device !== undefined && opened.device !== opts.device) {
      throw new E.AuthenticationError(`resync-response names device ${JSON.stringify(opened.device)}, not ${JSON.stringify(opts.device)}`);
    }
    const p = opened.plaintext;
    if (p.length !== 16) throw new E.MalformedError(`resync-response plaintext is ${p.length} bytes; must be 16`);
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_LEN || !S.constantTimeEqual(p.subarray(0, 8), nonce)) {
      throw new E.AuthenticationError('resync-response answers another request (nonce mismatch): ignore it');
    }
    const nextSeq = ((p[8] << 24) >>> 0) + (p[9] << 16) + (p[10] << 8) + p[11];
    const backendTime = ((p[12] << 24) >>> 0) + (p[13] << 16) + (p[14] << 8) + p[15];
    const counter = Math.max(opts.counter || 0, nextSeq);
    return { counter, nextSeq, backendTime, seq: opened.seq, ts: opened.ts };
  }

  /**
   * Backend side: verify a resync-request (MAC, no replay window, no freshness: SPEC.md §8 step 2) and seal the
   * response. opts: nextSeq (one more than the highest up seq accepted, 0 if none), seq (the backend's own down
   * seq), now (backend time, default this clock), format. Returns {text, device, nonce}.
   */
  function answerResync(keys, requestText, opts) {
    opts = opts || {};
    const req = env.open(keys, requestText, { direction: 'up', freshness: null });
    if (req.type !== 'resync-request') throw new E.MalformedError(`expected a resync-request, got ${req.type}`);
    if (req.plaintext.length !== NONCE_LEN) throw new E.MalformedError(`resync-request nonce is ${req.plaintext.length} bytes; must be ${NONCE_LEN}`);
    const now = opts.now === undefined ? Math.floor(Date.now() / 1000) : opts.now;
    const u32 = (n) => Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    const body = S.concat([req.plaintext, u32(opts.nextSeq || 0), u32(now)]);
    const text = env.seal(env.lookup(keys, req.device), body, {
      device: req.device, seq: opts.seq, ts: now, direction: 'down', type: 'resync-response', format: opts.format,
    });
    return { text, device: req.device, nonce: req.plaintext };
  }

  return { resyncRequest, acceptResyncResponse, answerResync };
}

module.exports = { bind, NONCE_LEN };
