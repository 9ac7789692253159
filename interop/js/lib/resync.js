'use strict';
// Resync ("Case 1", SPEC.md §8): a device that lost its counter asks the backend for the next sequence number.
//
// Device side: resyncRequest() seals an up/resync-request carrying a fresh 8-byte nonce and notes when it was
// sent on a monotonic clock; acceptResyncResponse() opens the backend's down/resync-response (MAC first),
// insists on the same nonce, refuses a response that comes more than T_wait (60 s) after its request as
// `stale`, and returns the counter to continue from. Backend side (e.g. a Node-RED flow): answerResync(), at
// most 6 answers per device per 60 s (`rate-limited` beyond, without spending a down sequence number).

const E = require('./errors');
const S = require('./bytes');
const { envelopeText } = require('./envelope');

const NONCE_LEN = 8;
const T_WAIT = 60;
const RATE_LIMIT = 6;
const RATE_PERIOD = 60;
const MAX_PENDING = 4096;

/** Milliseconds on a monotonic clock (performance.now: Node.js, browsers), never the wall clock. */
function monotonicMs() {
  return globalThis.performance.now();
}

function u32(n) {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/**
 * The backend's answer-rate bound (SPEC.md §8 "Answer rate"): at most `limit` answers per device within any
 * `period` seconds. In memory; toJSON()/fromJSON() keep it next to a ReplayWindow in a Node-RED context.
 */
class ResyncRateLimit {
  constructor(opts) {
    this.limit = opts && opts.limit !== undefined ? opts.limit : RATE_LIMIT;
    this.period = opts && opts.period !== undefined ? opts.period : RATE_PERIOD;
    if (!Number.isInteger(this.limit) || this.limit < 1) throw new RangeError('limit must be an integer >= 1');
    if (typeof this.period !== 'number' || !(this.period > 0)) throw new RangeError('period must be a number of seconds > 0');
    this.answers = new Map(); // device -> times (seconds) of the answers within the last period, oldest first
  }

  /** Count one answer to `device` at `now` (seconds), or throw RateLimitError and count nothing. */
  take(device, now) {
    // answers within the period; ones "in the future" (the clock was set back) still count, up to one period
    const recent = (this.answers.get(device) || []).filter((t) => t > now - this.period && t <= now + this.period);
    if (recent.length >= this.limit) {
      const wait = Math.max(0, Math.ceil(Math.min(...recent) + this.period - now));
      throw new E.RateLimitError(`already answered ${recent.length} resync requests from ${E.quote(device)} in the last ${this.period} s; the next answer in ${wait} s`);
    }
    recent.push(now);
    this.answers.set(device, recent);
    if (this.answers.size > MAX_PENDING) this.answers.delete(this.answers.keys().next().value);
  }

  toJSON() { return { limit: this.limit, period: this.period, answers: Object.fromEntries(this.answers) }; }

  static fromJSON(obj) {
    const r = new ResyncRateLimit({ limit: obj.limit, period: obj.period });
    for (const [device, times] of Object.entries(obj.answers || {})) r.answers.set(device, times.slice());
    return r;
  }
}

function bind(env) {
  // The device's pending requests: device -> {nonce (hex), sentAt}; only the newest request of a device counts.
  const pending = new Map();
  const defaultLimit = new ResyncRateLimit();

  /**
   * -> {text, nonce, sentAt, device}: send `text`, keep the returned object (or at least `nonce`) for
   * acceptResyncResponse. opts: device, seq (default 0), ts (default 0), format, clock (a function returning
   * monotonic milliseconds; default performance.now).
   */
  function resyncRequest(secret, opts) {
    opts = opts || {};
    const nonce = opts.nonce ? Uint8Array.from(opts.nonce) : S.randomBytes(NONCE_LEN);
    if (nonce.length !== NONCE_LEN) throw new E.MalformedError(`resync nonce must be ${NONCE_LEN} bytes`);
    const text = env.seal(secret, nonce, {
      device: opts.device, seq: opts.seq === undefined ? 0 : opts.seq, ts: opts.ts === undefined ? 0 : opts.ts,
      direction: 'up', type: 'resync-request', format: opts.format, iv: opts.iv,
    });
    const sentAt = (opts.clock || monotonicMs)();
    pending.delete(opts.device);
    pending.set(opts.device, { nonce: S.hexEncode(nonce), sentAt });
    if (pending.size > MAX_PENDING) pending.delete(pending.keys().next().value);
    return { text, nonce: S.out(nonce), sentAt, device: opts.device };
  }

  /**
   * Open a resync-response for `request`: the object resyncRequest returned, or its nonce bytes (then the
   * sending time is opts.sentAt, or what resyncRequest noted for that nonce in this process). opts: counter (the
   * device's current next seq, default 0), device (the expected device id; required for format 'lean'),
   * format, wait (T_wait in seconds, default 60), clock (monotonic milliseconds, default performance.now).
   * Returns {counter: max(counter, nextSeq), nextSeq, backendTime, seq, ts}. A response bound to another
   * nonce throws AuthenticationError (ignore it); one later than T_wait after the request throws StaleError
   * and the request is forgotten.
   */
  function acceptResyncResponse(secret, text, request, opts) {
    opts = opts || {};
    const wait = opts.wait === undefined ? T_WAIT : opts.wait;
    if (typeof wait !== 'number' || !(wait >= 0)) throw new E.MalformedError('wait must be a number of seconds >= 0');
    const now = (opts.clock || monotonicMs)();
    const nonce = request instanceof Uint8Array ? request : request && request.nonce;
    const opened = env.open(secret, text, { direction: 'down', format: opts.format, device: opts.device, freshness: null });
    if (opened.type !== 'resync-response') throw new E.MalformedError(`expected a resync-response, got ${opened.type}`);
    if (opts.device !== undefined && opened.device !== opts.device) {
      throw new E.AuthenticationError(`resync-response names device ${E.quote(opened.device)}, not ${E.quote(opts.device)}`);
    }
    const p = opened.plaintext;
    if (p.length !== 16) throw new E.MalformedError(`resync-response plaintext is ${p.length} bytes; must be 16`);
    if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_LEN || !S.constantTimeEqual(p.subarray(0, 8), nonce)) {
      throw new E.AuthenticationError('resync-response answers another request (nonce mismatch): ignore it');
    }
    const noted = pending.get(opened.device);
    const nonceHex = S.hexEncode(nonce);
    let sentAt = request && !(request instanceof Uint8Array) && request.sentAt !== undefined ? request.sentAt : opts.sentAt;
    if (sentAt === undefined && noted && noted.nonce === nonceHex) sentAt = noted.sentAt;
    if (typeof sentAt !== 'number') {
      throw new E.StaleError('no pending resync request with this nonce (not sent by this process, or already answered or expired): pass the object resyncRequest returned');
    }
    if (noted && noted.nonce === nonceHex) pending.delete(opened.device);
    if (now - sentAt > wait * 1000) {
      throw new E.StaleError(`resync-response arrived ${Math.round((now - sentAt) / 1000)} s after its request (limit ${wait} s): request again`);
    }
    const nextSeq = ((p[8] << 24) >>> 0) + (p[9] << 16) + (p[10] << 8) + p[11];
    const backendTime = ((p[12] << 24) >>> 0) + (p[13] << 16) + (p[14] << 8) + p[15];
    const counter = Math.max(opts.counter || 0, nextSeq);
    return { counter, nextSeq, backendTime, seq: opened.seq, ts: opened.ts };
  }

  /**
   * Backend side: verify a resync-request (MAC, no replay window, no freshness: SPEC.md §8 step 2), check the
   * answer rate and seal the response. opts: nextSeq (one more than the highest up seq accepted, 0 if none),
   * seq (the backend's own down seq: a number, or a function called only once the request is to be answered,
   * so a refused request spends none), now (backend time in seconds, default this clock), format (default: the
   * request's; 'lean' needs opts.device), device (lean only), rateLimit (a ResyncRateLimit or any object with
   * take(device, now); default one shared by this module instance: 6 answers per device per 60 s).
   * Returns {text, device, nonce, seq}.
   */
  function answerResync(keys, requestText, opts) {
    opts = opts || {};
    const req = env.open(keys, requestText, { direction: 'up', format: opts.format, device: opts.device, freshness: null });
    if (req.type !== 'resync-request') throw new E.MalformedError(`expected a resync-request, got ${req.type}`);
    if (req.plaintext.length !== NONCE_LEN) throw new E.MalformedError(`resync-request nonce is ${req.plaintext.length} bytes; must be ${NONCE_LEN}`);
    const nextSeq = opts.nextSeq || 0;
    if (nextSeq > 0xffffffff) throw new E.MalformedError('nextSeq is beyond 4294967295: the device secret must be replaced (SPEC.md §7)');
    const now = opts.now === undefined ? Math.floor(Date.now() / 1000) : opts.now;
    if (typeof opts.seq !== 'function' && !(Number.isInteger(opts.seq) && opts.seq >= 0 && opts.seq <= 0xffffffff)) {
      throw new E.MalformedError('seq (the backend\'s down sequence number) must be an integer in 0..4294967295 or a function returning one');
    }
    (opts.rateLimit || defaultLimit).take(req.device, now);
    const seq = typeof opts.seq === 'function' ? opts.seq(req.device) : opts.seq;
    let format = opts.format;
    if (format === undefined || format === null) format = /^[ \t\r\n]*\{/.test(envelopeText(requestText)) ? 'json' : 'compact';
    const body = S.concat([req.plaintext, u32(nextSeq), u32(now)]);
    const text = env.seal(env.lookup(keys, req.device), body, {
      device: req.device, seq, ts: now, direction: 'down', type: 'resync-response', format,
    });
    return { text, device: req.device, nonce: req.plaintext, seq };
  }

  return { resyncRequest, acceptResyncResponse, answerResync };
}

module.exports = { bind, NONCE_LEN, T_WAIT, RATE_LIMIT, RATE_PERIOD, ResyncRateLimit };
