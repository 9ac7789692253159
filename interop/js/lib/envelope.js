'use strict';
// Envelope v1 (SPEC.md) on crypto-js: fields, MAC input, compact and JSON encodings, seal and open.
//
// Where each byte comes from:
//   K_enc / K_mac ...... deriveKeys()  HKDF-SHA-256 with crypto-js HmacSHA256 (SPEC.md §2.2)
//   mac_input .......... macInput()    version|dir|type|L|device|seq|ts|iv|ct (SPEC.md §4)
//   ct ................. cipher.encryptCbc (crypto-js AES, CBC, Pkcs7)
//   tag ................ HMAC-SHA-256(K_mac, mac_input)[0:16], compared in constant time before decrypting
//   compact / JSON ..... encodeCompact() / encodeJson() (SPEC.md §5)

const E = require('./errors');
const S = require('./bytes');
const { parseJsonObject } = require('./json');

const VERSION = 1;
const DIRECTIONS = { up: 1, down: 2 };
const TYPES = { data: 0, 'resync-request': 1, 'resync-response': 2 };
const DIRECTION_NAMES = { 1: 'up', 2: 'down' };
const TYPE_NAMES = { 0: 'data', 1: 'resync-request', 2: 'resync-response' };
const TAG_LEN = 16;
const IV_LEN = 16;
const MAX_DEVICE_LEN = 64;
const MAX_U32 = 0xffffffff;
const MIN_RAW_LEN = 4 + 1 + 8 + IV_LEN + 16 + TAG_LEN;
const EPOCH_2000 = 946684800;
const JSON_MEMBERS = ['v', 'dir', 'type', 'dev', 'seq', 'ts', 'iv', 'ct', 'tag'];
const ENC_INFO = 'iotenvelope v1 enc';
const MAC_INFO = 'iotenvelope v1 mac';
const DEFAULT_FRESHNESS = Object.freeze({ skew: 300, maxAge: 86400, allowUnknownTime: true });

function checkDevice(device) {
  if (typeof device !== 'string') throw new E.MalformedError(`device id must be text, got ${typeof device}`);
  if (device.length < 1 || device.length > MAX_DEVICE_LEN) {
    throw new E.MalformedError(`device id must be 1..${MAX_DEVICE_LEN} characters, got ${device.length}`);
  }
  for (const ch of device) {
    const c = ch.codePointAt(0);
    if (c < 0x21 || c > 0x7e || ch === '"' || ch === '\\') {
      throw new E.MalformedError(`device id contains ${JSON.stringify(ch)}; allowed are printable ASCII except space, '"' and '\\'`);
    }
  }
  return device;
}

function checkU32(value, name) {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new E.MalformedError(`${name} must be an integer, got ${typeof value === 'number' ? 'a fraction' : typeof value}`);
  }
  if (value < 0 || value > MAX_U32) throw new E.MalformedError(`${name} ${value} is outside 0..${MAX_U32}`);
  return value;
}

function u32be(n) {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function readU32(b, at) {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
}

/** Build a checked envelope object (the fields as on the wire). */
function makeEnvelope(f) {
  if (f.version !== VERSION) throw new E.UnsupportedVersionError(`envelope version ${f.version} is not supported (this is v${VERSION})`);
  if (!(f.direction in DIRECTIONS)) throw new E.MalformedError(`direction ${JSON.stringify(f.direction)} is not 'up' or 'down'`);
  if (!(f.type in TYPES)) throw new E.MalformedError(`type ${JSON.stringify(f.type)} is not one of ${Object.keys(TYPES).join(', ')}`);
  checkDevice(f.device);
  checkU32(f.seq, 'seq');
  checkU32(f.ts, 'ts');
  if (f.iv.length !== IV_LEN) throw new E.MalformedError(`iv is ${f.iv.length} bytes; must be ${IV_LEN}`);
  if (!f.ct.length || f.ct.length % 16) throw new E.MalformedError(`ciphertext is ${f.ct.length} bytes; must be a positive multiple of 16`);
  if (f.tag.length !== TAG_LEN) throw new E.MalformedError(`tag is ${f.tag.length} bytes; must be ${TAG_LEN}`);
  return Object.freeze({ ...f });
}

function header(env) {
  const dev = S.utf8Encode(env.device);
  return S.concat([Uint8Array.of(env.version, DIRECTIONS[env.direction], TYPES[env.type], dev.length), dev,
    u32be(env.seq), u32be(env.ts)]);
}

function macInput(env) {
  return S.concat([header(env), env.iv, env.ct]);
}

function fromBytes(raw) {
  if (raw.length < 1) throw new E.MalformedError('envelope is empty');
  if (raw[0] !== VERSION) throw new E.UnsupportedVersionError(`envelope version ${raw[0]} is not supported (this is v${VERSION})`);
  if (raw.length < MIN_RAW_LEN) throw new E.MalformedError(`envelope is ${raw.length} bytes; the smallest valid one is ${MIN_RAW_LEN}`);
  const direction = DIRECTION_NAMES[raw[1]];
  if (!direction) throw new E.MalformedError(`direction byte 0x${raw[1].toString(16)} is not 0x01 (up) or 0x02 (down)`);
  const type = TYPE_NAMES[raw[2]];
  if (!type) throw new E.MalformedError(`type byte 0x${raw[2].toString(16)} is not 0x00, 0x01 or 0x02`);
  const n = raw[3];
  if (n < 1 || n > MAX_DEVICE_LEN) throw new E.MalformedError(`device id length ${n} is outside 1..${MAX_DEVICE_LEN}`);
  const body = raw.length - (4 + n + 8 + IV_LEN + TAG_LEN);
  if (body < 16) throw new E.MalformedError(`envelope is too short for a ${n}-byte device id and one ciphertext block`);
  if (body % 16) throw new E.MalformedError(`ciphertext length ${body} is not a multiple of 16 (truncated or extended?)`);
  const device = String.fromCharCode(...raw.subarray(4, 4 + n));
  return makeEnvelope({
    version: VERSION, direction, type, device, seq: readU32(raw, 4 + n), ts: readU32(raw, 8 + n),
    iv: raw.slice(12 + n, 28 + n), ct: raw.slice(28 + n, raw.length - TAG_LEN), tag: raw.slice(raw.length - TAG_LEN),
  });
}

function bind(CryptoJS, B, cipher) {
  const keyCache = new Map();

  function hmac(keyBytes, dataBytes) {
    return B.fromWords(CryptoJS.HmacSHA256(B.toWords(dataBytes), B.toWords(keyBytes)));
  }

  function checkSecret(secret) {
    const raw = B.parseKeyText(secret, 'device secret');
    if (raw.length !== 16 && raw.length !== 32) {
      throw new E.KeyFormatError(`device secret is ${raw.length} bytes; must be 16 or 32`);
    }
    return raw;
  }

  /** { encKey, macKey } for a 16- or 32-byte device secret (SPEC.md §2.2), cached per secret. */
  function deriveKeys(secret) {
    const raw = checkSecret(secret);
    const id = S.hexEncode(raw);
    let keys = keyCache.get(id);
    if (!keys) {
      const prk = hmac(new Uint8Array(32), raw);
      keys = Object.freeze({
        encKey: hmac(prk, S.concat([S.utf8Encode(ENC_INFO), Uint8Array.of(1)])).subarray(0, raw.length),
        macKey: hmac(prk, S.concat([S.utf8Encode(MAC_INFO), Uint8Array.of(1)])),
      });
      if (keyCache.size > 1024) keyCache.clear();
      keyCache.set(id, keys);
    }
    return keys;
  }

  function tagOf(macKey, env) {
    return hmac(macKey, macInput(env)).subarray(0, TAG_LEN);
  }

  function toBytes(env) { return S.concat([macInput(env), env.tag]); }
  function encodeCompact(env) { return B.encodeUrl(toBytes(env)); }

  function toObject(env) {
    return {
      v: env.version, dir: env.direction, type: env.type, dev: env.device, seq: env.seq, ts: env.ts,
      iv: B.encodeUrl(env.iv), ct: B.encodeUrl(env.ct), tag: B.encodeUrl(env.tag),
    };
  }

  /** JSON text exactly as SPEC.md §5.2 writes it (Python json.dumps layout: ", " and ": "). */
  function encodeJson(env) {
    const obj = toObject(env);
    return `{${JSON_MEMBERS.map((k) => `${JSON.stringify(k)}: ${JSON.stringify(obj[k])}`).join(', ')}}`;
  }

  function encode(env, format) {
    if (format === undefined || format === 'compact') return encodeCompact(env);
    if (format === 'json') return encodeJson(env);
    throw new E.MalformedError(`format ${JSON.stringify(format)} is not 'compact' or 'json'`);
  }

  function fromObject(members) {
    // members: Map name -> {kind, value} from the strict JSON reader
    const missing = JSON_MEMBERS.filter((k) => !members.has(k));
    const extra = [...members.keys()].filter((k) => !JSON_MEMBERS.includes(k)).sort();
    if (missing.length || extra.length) {
      const parts = [];
      if (missing.length) parts.push(`missing ${missing.join(', ')}`);
      if (extra.length) parts.push(`unexpected ${extra.join(', ')}`);
      throw new E.MalformedError(`JSON envelope: ${parts.join('; ')}`);
    }
    const get = (k) => members.get(k);
    if (get('v').kind !== 'int') throw new E.MalformedError('JSON envelope: v must be the integer 1');
    if (get('v').value !== VERSION) throw new E.UnsupportedVersionError(`envelope version ${get('v').value} is not supported (this is v${VERSION})`);
    for (const k of ['dir', 'type', 'dev', 'iv', 'ct', 'tag']) {
      if (get(k).kind !== 'string') throw new E.MalformedError(`JSON envelope: ${k} must be a string`);
    }
    const dir = get('dir').value;
    const type = get('type').value;
    if (!Object.prototype.hasOwnProperty.call(DIRECTIONS, dir)) throw new E.MalformedError(`JSON envelope: dir ${JSON.stringify(dir)} is not 'up' or 'down'`);
    if (!Object.prototype.hasOwnProperty.call(TYPES, type)) throw new E.MalformedError(`JSON envelope: type ${JSON.stringify(type)} is not one of ${Object.keys(TYPES).join(', ')}`);
    const device = checkDevice(get('dev').value);
    const num = (k) => {
      const m = get(k);
      if (m.kind !== 'int') throw new E.MalformedError(`${k} must be an integer, got ${m.kind === 'number' ? 'a fraction or exponent' : m.kind}`);
      return checkU32(m.value, k);
    };
    const seq = num('seq');
    const ts = num('ts');
    return makeEnvelope({
      version: VERSION, direction: dir, type, device, seq, ts,
      iv: B.decodeUrl(get('iv').value, 'iv'), ct: B.decodeUrl(get('ct').value, 'ct'), tag: B.decodeUrl(get('tag').value, 'tag'),
    });
  }

  /** Parse either encoding; format undefined guesses from the first character ('{' means JSON). */
  function decode(text, format) {
    if (text instanceof Uint8Array) text = S.utf8Decode(text, 'envelope text');
    if (typeof text !== 'string') throw new E.MalformedError(`envelope must be text, got ${typeof text}`);
    if (format === undefined || format === null) format = /^[ \t\r\n]*\{/.test(text) ? 'json' : 'compact';
    if (format === 'json') return fromObject(parseJsonObject(text));
    if (format === 'compact') return fromBytes(B.decodeUrl(text, 'compact envelope'));
    throw new E.MalformedError(`format ${JSON.stringify(format)} is not 'compact' or 'json'`);
  }

  /**
   * Encrypt and authenticate; returns the envelope object (encode it with encode(env, 'compact'|'json')).
   * opts: device (required), seq (required), ts (default now; 0 = time unknown), direction ('up'), type
   * ('data'), iv (test vectors only: leave it out so a fresh CSPRNG IV is used).
   */
  function sealEnvelope(secret, plaintext, opts) {
    opts = opts || {};
    const raw = checkSecret(secret);
    const data = S.asBytes(plaintext, 'plaintext');
    const ts = opts.ts === undefined || opts.ts === null ? Math.floor(Date.now() / 1000) : opts.ts;
    const direction = opts.direction || 'up';
    const type = opts.type || 'data';
    if (!Object.prototype.hasOwnProperty.call(DIRECTIONS, direction)) throw new E.MalformedError(`direction ${JSON.stringify(direction)} is not 'up' or 'down'`);
    if (!Object.prototype.hasOwnProperty.call(TYPES, type)) throw new E.MalformedError(`type ${JSON.stringify(type)} is not one of ${Object.keys(TYPES).join(', ')}`);
    checkDevice(opts.device);
    checkU32(opts.seq, 'seq');
    checkU32(ts, 'ts');
    let iv = opts.iv;
    if (iv === undefined || iv === null) iv = S.randomBytes(IV_LEN);
    else {
      iv = B.parseKeyText(iv, 'IV');
      if (iv.length !== IV_LEN) throw new E.KeyFormatError(`IV is ${iv.length} bytes; must be 16`);
    }
    const { encKey, macKey } = deriveKeys(raw);
    const ct = cipher.encryptCbc(encKey, iv, data, 'pkcs7');
    const unsigned = {
      version: VERSION, direction, type, device: opts.device, seq: opts.seq, ts, iv: Uint8Array.from(iv), ct, tag: new Uint8Array(TAG_LEN),
    };
    return makeEnvelope({ ...unsigned, tag: tagOf(macKey, unsigned) });
  }

  /** Seal and return the envelope text (opts.format 'compact' (default) or 'json'). */
  function seal(secret, plaintext, opts) {
    return encode(sealEnvelope(secret, plaintext, opts), (opts || {}).format);
  }

  function lookup(keys, device) {
    let secret;
    if (keys instanceof Uint8Array || typeof keys === 'string') return checkSecret(keys);
    if (keys instanceof Map) secret = keys.get(device);
    else if (typeof keys === 'function') secret = keys(device);
    else if (keys && typeof keys === 'object') secret = Object.prototype.hasOwnProperty.call(keys, device) ? keys[device] : undefined;
    else throw new E.KeyFormatError('keys must be a secret, a Map/object of device id -> secret, or a function');
    if (secret === undefined || secret === null) throw new E.UnknownDeviceError(`no secret known for device ${JSON.stringify(device)}`);
    return checkSecret(secret);
  }

  function checkFreshness(ts, now, policy) {
    const p = { ...DEFAULT_FRESHNESS, ...policy };
    if (ts === 0) {
      if (!p.allowUnknownTime) throw new E.TimeUnknownError('envelope has ts=0 (device time unknown) and this receiver requires a time');
      return;
    }
    if (ts > now + p.skew) throw new E.FutureError(`timestamp is ${ts - now} s in the future (allowed skew ${p.skew} s)`);
    if (p.maxAge !== null && p.maxAge !== undefined && ts < now - p.maxAge - p.skew) {
      const age = now - ts;
      const hint = Math.abs(age - EPOCH_2000) <= 86400 + p.skew
        ? '; that is the 946684800 s offset of a clock counting from 2000 (MicroPython on ESP8266/ESP32): add 946684800 before sealing'
        : '';
      throw new E.StaleError(`timestamp is ${age} s old (limit ${p.maxAge} s + ${p.skew} s skew)${hint}`);
    }
  }

  /** SPEC.md §6 steps 2-8 on a decoded envelope. */
  function openEnvelope(keys, env, opts) {
    opts = opts || {};
    const expect = opts.direction || 'up';
    if (env.direction !== expect) {
      throw new E.DirectionError(`envelope travels ${env.direction} but this receiver expects ${expect} (a reflected message?)`);
    }
    const secret = lookup(keys, env.device);
    const { encKey, macKey } = deriveKeys(secret);
    if (!S.constantTimeEqual(tagOf(macKey, env), env.tag)) {
      throw new E.AuthenticationError('authentication tag does not match (wrong secret, or the envelope was altered)');
    }
    const plaintext = cipher.decryptCbc(encKey, env.iv, env.ct, 'pkcs7');
    const freshness = opts.freshness === undefined ? DEFAULT_FRESHNESS : opts.freshness;
    if (freshness) {
      const now = opts.now === undefined || opts.now === null ? Math.floor(Date.now() / 1000) : opts.now;
      checkFreshness(env.ts, now, freshness);
    }
    if (opts.replay) opts.replay.accept(env.device, env.direction, env.seq);
    return {
      plaintext, device: env.device, direction: env.direction, type: env.type, seq: env.seq, ts: env.ts,
      get text() { return S.utf8Decode(plaintext, 'plaintext'); },
    };
  }

  /**
   * Open envelope text (either encoding). keys: one secret (bytes, hex or "b64:..."), a Map or object of
   * device id -> secret, or a function(device) returning the secret or undefined. opts: direction ('up'),
   * format, freshness (null disables; else {skew, maxAge, allowUnknownTime}), now, replay ({accept(device,
   * direction, seq)}, called last).
   */
  function open(keys, text, opts) {
    return openEnvelope(keys, decode(text, (opts || {}).format), opts);
  }

  return {
    deriveKeys, lookup, seal, sealEnvelope, open, openEnvelope, decode, encode, encodeCompact, encodeJson, toObject, macInput,
    checkFreshness,
  };
}

module.exports = {
  bind, checkDevice, VERSION, DIRECTIONS, TYPES, EPOCH_2000, DEFAULT_FRESHNESS, TAG_LEN, IV_LEN,
};
