'use strict';
// Envelope v1 (SPEC.md): fields, MAC input, the compact, JSON and lean encodings, seal and open, on one crypto
// backend (lib/backend.js: node:crypto or crypto-js; the same bytes either way).
//
// Where each byte comes from:
//   K_enc / K_mac ............ keysFor()     HKDF-SHA-256 (SPEC.md §2.2), cached per secret
//   K_enc_lean / K_mac_lean .. keysFor()     the lean form's own HKDF labels
//   mac_input ................ version|dir|type|L|device|seq|ts|iv|ct (SPEC.md §4), built once per seal/decode
//   ct ....................... AES-CBC + PKCS#7 (backend)
//   tag ...................... HMAC-SHA-256(K_mac, mac_input)[0:16], compared in constant time before decrypting
//   lean ..................... hdr|seq|[ts]|ct|tag8, iv = AES(K_enc_lean, nonce) (SPEC.md §5.3)
//   compact / JSON / lean text  (SPEC.md §5; one trailing LF/CRLF stripped, 65536-byte cap before parsing)

const E = require('./errors');
const S = require('./bytes');
const { parseEnvelopeJson } = require('./json');

const VERSION = 1;
const DIRECTIONS = { up: 1, down: 2 };
const TYPES = { data: 0, 'resync-request': 1, 'resync-response': 2 };
const DIRECTION_NAMES = { 1: 'up', 2: 'down' };
const TYPE_NAMES = { 0: 'data', 1: 'resync-request', 2: 'resync-response' };
const TAG_LEN = 16;
const LEAN_TAG_LEN = 8;
const IV_LEN = 16;
const MAX_DEVICE_LEN = 64;
const MAX_U32 = 0xffffffff;
const MIN_RAW_LEN = 4 + 1 + 8 + IV_LEN + 16 + TAG_LEN;
const MAX_TEXT = 65536;
const MAX_RAW = 49152;
const EPOCH_2000 = 946684800;
const JSON_MEMBERS = ['v', 'dir', 'type', 'dev', 'seq', 'ts', 'iv', 'ct', 'tag'];
const JSON_NAMES = new Set(JSON_MEMBERS);
const INFO = {
  enc: 'iotenvelope v1 enc', mac: 'iotenvelope v1 mac', leanEnc: 'iotenvelope v1 lean enc', leanMac: 'iotenvelope v1 lean mac',
};
const FORMATS = ['compact', 'json', 'lean', 'lean-raw'];
const DEFAULT_FRESHNESS = Object.freeze({ skew: 300, maxAge: 86400, allowUnknownTime: true });
const HAS_BUFFER = typeof Buffer !== 'undefined';
const own = (obj, k) => Object.prototype.hasOwnProperty.call(obj, k);

function alloc(n) { return HAS_BUFFER ? Buffer.allocUnsafe(n) : new Uint8Array(n); }

function checkDevice(device) {
  if (typeof device !== 'string') throw new E.MalformedError(`device id must be text, got ${typeof device}`);
  if (device.length < 1 || device.length > MAX_DEVICE_LEN) {
    throw new E.MalformedError(`device id must be 1..${MAX_DEVICE_LEN} characters, got ${device.length}`);
  }
  for (let i = 0; i < device.length; i++) {
    const c = device.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) {
      const ch = String.fromCodePoint(device.codePointAt(i));
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

function checkDirection(direction) {
  if (typeof direction !== 'string' || !own(DIRECTIONS, direction)) {
    throw new E.MalformedError(`direction ${E.quote(direction)} is not 'up' or 'down'`);
  }
  return direction;
}

function checkType(type) {
  if (typeof type !== 'string' || !own(TYPES, type)) {
    throw new E.MalformedError(`type ${E.quote(type)} is not one of ${Object.keys(TYPES).join(', ')}`);
  }
  return type;
}

function checkFormat(format) {
  if (format === undefined || format === null) return 'compact';
  if (!FORMATS.includes(format)) throw new E.MalformedError(`format ${E.quote(format)} is not one of ${FORMATS.join(', ')}`);
  return format;
}

function putU32(b, at, n) {
  b[at] = (n >>> 24) & 0xff; b[at + 1] = (n >>> 16) & 0xff; b[at + 2] = (n >>> 8) & 0xff; b[at + 3] = n & 0xff;
}

function readU32(b, at) {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
}

function putAscii(b, at, text) {
  for (let i = 0; i < text.length; i++) b[at + i] = text.charCodeAt(i);
}

/** mac_input ‖ tag of the compact form with room for the tag (SPEC.md §4); the caller writes iv, ct, tag. */
function compactLayout(f, ctLen) {
  const n = f.device.length;
  const wire = alloc(4 + n + 8 + IV_LEN + ctLen + TAG_LEN);
  wire[0] = VERSION; wire[1] = DIRECTIONS[f.direction]; wire[2] = TYPES[f.type]; wire[3] = n;
  putAscii(wire, 4, f.device);
  putU32(wire, 4 + n, f.seq);
  putU32(wire, 8 + n, f.ts);
  return wire;
}

/**
 * The envelope object: its fields as on the wire, frozen. `wire` (not enumerable) holds the encoded bytes the
 * fields are views of, when known (after seal or a binary decode), so neither encoding nor MAC checking copies.
 */
function envelopeObject(f, wire) {
  const env = {
    version: VERSION, direction: f.direction, type: f.type, device: f.device, seq: f.seq, ts: f.ts,
    iv: f.iv, ct: f.ct, tag: f.tag,
  };
  if (f.form === 'lean') env.form = 'lean';
  if (wire) Object.defineProperty(env, 'wire', { value: wire });
  return Object.freeze(env);
}

/** Build a checked envelope object from fields (the JSON reader, or a caller). */
function makeEnvelope(f) {
  if (f.version !== VERSION) throw new E.UnsupportedVersionError(`envelope version ${E.quote(f.version)} is not supported (this is v${VERSION})`);
  checkDirection(f.direction);
  checkType(f.type);
  checkDevice(f.device);
  checkU32(f.seq, 'seq');
  checkU32(f.ts, 'ts');
  if (f.iv.length !== IV_LEN) throw new E.MalformedError(`iv is ${f.iv.length} bytes; must be ${IV_LEN}`);
  if (!f.ct.length || f.ct.length % 16) throw new E.MalformedError(`ciphertext is ${f.ct.length} bytes; must be a positive multiple of 16`);
  if (f.tag.length !== TAG_LEN) throw new E.MalformedError(`tag is ${f.tag.length} bytes; must be ${TAG_LEN}`);
  return envelopeObject(f, null);
}

function macInput(env) {
  if (env.form === 'lean') return leanMacInput(env);
  if (env.wire) return env.wire.subarray(0, env.wire.length - TAG_LEN);
  const wire = compactLayout(env, env.ct.length);
  const n = env.device.length;
  wire.set(env.iv, 12 + n);
  wire.set(env.ct, 28 + n);
  return wire.subarray(0, wire.length - TAG_LEN);
}

function fromBytes(raw) {
  if (raw.length < 1) throw new E.MalformedError('envelope is empty');
  if (raw[0] !== VERSION) throw new E.UnsupportedVersionError(`envelope version ${raw[0]} is not supported (this is v${VERSION})`);
  if (raw.length < MIN_RAW_LEN) throw new E.MalformedError(`envelope is ${raw.length} bytes; the smallest valid one is ${MIN_RAW_LEN}`);
  if (raw.length > MAX_RAW) throw new E.MalformedError(`envelope is ${raw.length} bytes; the limit is ${MAX_RAW}`);
  const direction = DIRECTION_NAMES[raw[1]];
  if (!direction) throw new E.MalformedError(`direction byte 0x${raw[1].toString(16)} is not 0x01 (up) or 0x02 (down)`);
  const type = TYPE_NAMES[raw[2]];
  if (!type) throw new E.MalformedError(`type byte 0x${raw[2].toString(16)} is not 0x00, 0x01 or 0x02`);
  const n = raw[3];
  if (n < 1 || n > MAX_DEVICE_LEN) throw new E.MalformedError(`device id length ${n} is outside 1..${MAX_DEVICE_LEN}`);
  const body = raw.length - (4 + n + 8 + IV_LEN + TAG_LEN);
  if (body < 16) throw new E.MalformedError(`envelope is too short for a ${n}-byte device id and one ciphertext block`);
  if (body % 16) throw new E.MalformedError(`ciphertext length ${body} is not a multiple of 16 (truncated or extended?)`);
  const device = checkDevice(String.fromCharCode.apply(null, raw.subarray(4, 4 + n)));
  return envelopeObject({
    direction, type, device, seq: readU32(raw, 4 + n), ts: readU32(raw, 8 + n),
    iv: raw.subarray(12 + n, 28 + n), ct: raw.subarray(28 + n, raw.length - TAG_LEN), tag: raw.subarray(raw.length - TAG_LEN),
  }, raw);
}

// ---- lean form (SPEC.md §5.3) -----------------------------------------------------------------------------

function leanHeader(direction, type, ts) {
  return 0x40 | (ts ? 0x10 : 0) | (DIRECTIONS[direction] << 2) | TYPES[type];
}

function leanNonce(hdr, seq) {
  const nonce = new Uint8Array(16);
  nonce[0] = 0x4c;
  nonce[1] = hdr & 0x0f;
  putU32(nonce, 2, seq);
  return nonce;
}

function leanMacInput(env) {
  const n = env.device.length;
  const t = env.ts ? 4 : 0;
  const m = alloc(1 + 1 + n + 4 + t + env.ct.length);
  m[0] = leanHeader(env.direction, env.type, env.ts);
  m[1] = n;
  putAscii(m, 2, env.device);
  putU32(m, 2 + n, env.seq);
  if (t) putU32(m, 6 + n, env.ts);
  m.set(env.ct, 6 + n + t);
  return m;
}

/** Decode raw lean bytes; `device` is the id the transport named (it is not on the wire). */
function fromLeanBytes(raw, device) {
  if (raw.length < 1) throw new E.MalformedError('lean envelope is empty');
  if (raw.length > MAX_RAW) throw new E.MalformedError(`lean envelope is ${raw.length} bytes; the limit is ${MAX_RAW}`);
  const hdr = raw[0];
  if (hdr >> 5 !== 0b010) throw new E.UnsupportedVersionError(`header byte 0x${hdr.toString(16).padStart(2, '0')} is not a lean envelope v1 (bits 7..5 must be 010)`);
  const t = (hdr >> 4) & 1;
  const min = t ? 33 : 29;
  if (raw.length < min) throw new E.MalformedError(`lean envelope is ${raw.length} bytes; the smallest valid one ${t ? 'with' : 'without'} ts is ${min}`);
  const ctLen = raw.length - 13 - 4 * t;
  if (ctLen % 16) throw new E.MalformedError(`lean ciphertext length ${ctLen} is not a multiple of 16 (truncated or extended?)`);
  const direction = DIRECTION_NAMES[(hdr >> 2) & 3];
  if (!direction) throw new E.MalformedError(`lean header direction bits ${(hdr >> 2) & 3} are not 01 (up) or 10 (down)`);
  const type = TYPE_NAMES[hdr & 3];
  if (!type) throw new E.MalformedError('lean header type bits 11 are not a type');
  const ts = t ? readU32(raw, 5) : 0;
  if (t && ts === 0) throw new E.MalformedError('lean envelope carries ts = 0 (time unknown is written by leaving ts out)');
  if (device === undefined || device === null) {
    throw new E.MalformedError('the lean form does not carry the device id: the receiver must give it (opts.device)');
  }
  checkDevice(device);
  return envelopeObject({
    form: 'lean', direction, type, device, seq: readU32(raw, 1), ts,
    iv: null, ct: raw.subarray(5 + 4 * t, raw.length - LEAN_TAG_LEN), tag: raw.subarray(raw.length - LEAN_TAG_LEN),
  }, raw);
}

// ---- text --------------------------------------------------------------------------------------------------

/**
 * Envelope text as a string, with the SPEC.md §5 rules applied before any parsing: exactly one trailing LF or
 * CRLF removed, then at most MAX_TEXT bytes. Bytes are taken as UTF-8 text (a Node-RED request body).
 */
function envelopeText(input) {
  if (input instanceof Uint8Array) {
    let n = input.length;
    if (n && input[n - 1] === 0x0a) { n--; if (n && input[n - 1] === 0x0d) n--; }
    if (n > MAX_TEXT) throw new E.MalformedError(`envelope text is ${n} bytes; the limit is ${MAX_TEXT}`);
    return S.utf8Decode(input.subarray(0, n), 'envelope text');
  }
  if (typeof input !== 'string') throw new E.MalformedError(`envelope must be text, got ${input === null ? 'null' : typeof input}`);
  let text = input;
  if (text.charCodeAt(text.length - 1) === 0x0a) {
    text = text.charCodeAt(text.length - 2) === 0x0d ? text.slice(0, -2) : text.slice(0, -1);
  }
  if (text.length > MAX_TEXT) throw new E.MalformedError(`envelope text is ${text.length} characters; the limit is ${MAX_TEXT} bytes`);
  if (text.length > MAX_TEXT / 3) {
    const n = S.utf8Length(text);
    if (n > MAX_TEXT) throw new E.MalformedError(`envelope text is ${n} bytes; the limit is ${MAX_TEXT}`);
  }
  return text;
}

/** What open() returns: the plaintext bytes and the header fields; `text` decodes the plaintext as UTF-8. */
class Opened {
  constructor(plaintext, env) {
    this.plaintext = plaintext;
    this.device = env.device;
    this.direction = env.direction;
    this.type = env.type;
    this.seq = env.seq;
    this.ts = env.ts;
  }

  get text() { return S.utf8Decode(this.plaintext, 'plaintext'); }
}

function bind(prim, B) {
  const keyCache = new Map();
  let lastSecret = null; // the secret of the previous call and its keys: most callers use one secret at a time
  let lastKeys = null;

  function b64uDecode(text, what) {
    S.checkB64u(text, what);
    return prim.fromB64u(text);
  }

  function parseSecret(secret) {
    const raw = B.parseKeyText(secret, 'device secret');
    if (raw.length !== 16 && raw.length !== 32) {
      throw new E.KeyFormatError(`device secret is ${raw.length} bytes; must be 16 or 32`);
    }
    return raw;
  }

  function cacheId(secret) {
    if (typeof secret === 'string') return `t${secret}`;
    if (secret instanceof Uint8Array) {
      return `b${HAS_BUFFER ? Buffer.from(secret.buffer, secret.byteOffset, secret.length).toString('latin1') : String.fromCharCode.apply(null, secret)}`;
    }
    return null;
  }

  /** The derived keys of one device secret (SPEC.md §2.2), computed once per secret and cached. */
  function keysFor(secret) {
    if (secret === lastSecret && typeof secret === 'string') return lastKeys;
    const id = cacheId(secret);
    let keys = id === null ? undefined : keyCache.get(id);
    if (keys) {
      lastSecret = secret;
      lastKeys = keys;
      return keys;
    }
    const raw = parseSecret(secret);
    const prk = prim.hmac(new Uint8Array(32), raw);
    const expand = (info) => prim.hmac(prk, S.concat([S.utf8Encode(info), Uint8Array.of(1)]));
    keys = Object.freeze({
      raw,
      encKey: expand(INFO.enc).subarray(0, raw.length),
      macKey: expand(INFO.mac),
      leanEncKey: expand(INFO.leanEnc).subarray(0, raw.length),
      leanMacKey: expand(INFO.leanMac),
    });
    if (keyCache.size >= 1024) keyCache.clear();
    keyCache.set(id, keys);
    lastSecret = secret;
    lastKeys = keys;
    return keys;
  }

  /** { encKey, macKey } for a 16- or 32-byte device secret (SPEC.md §2.2). */
  function deriveKeys(secret) {
    const k = keysFor(secret);
    return { encKey: k.encKey, macKey: k.macKey };
  }

  /** { encKey, macKey } of the lean form (K_enc_lean, K_mac_lean: SPEC.md §2.2). */
  function deriveLeanKeys(secret) {
    const k = keysFor(secret);
    return { encKey: k.leanEncKey, macKey: k.leanMacKey };
  }

  function tagOf(macKey, env) {
    return prim.hmac(macKey, macInput(env)).subarray(0, TAG_LEN);
  }

  function toBytes(env) {
    if (env.form === 'lean') return toLeanBytes(env);
    if (env.wire) return env.wire;
    return S.concat([macInput(env), env.tag]);
  }

  function toLeanBytes(env) {
    if (env.wire) return env.wire;
    const t = env.ts ? 4 : 0;
    const raw = alloc(5 + t + env.ct.length + LEAN_TAG_LEN);
    raw[0] = leanHeader(env.direction, env.type, env.ts);
    putU32(raw, 1, env.seq);
    if (t) putU32(raw, 5, env.ts);
    raw.set(env.ct, 5 + t);
    raw.set(env.tag, 5 + t + env.ct.length);
    return raw;
  }

  function encodeCompact(env) {
    if (env.form === 'lean') throw new E.MalformedError('a lean envelope has only the lean encoding');
    return prim.b64u(toBytes(env));
  }

  function toObject(env) {
    if (env.form === 'lean') throw new E.MalformedError('a lean envelope has only the lean encoding');
    return {
      v: env.version, dir: env.direction, type: env.type, dev: env.device, seq: env.seq, ts: env.ts,
      iv: prim.b64u(env.iv), ct: prim.b64u(env.ct), tag: prim.b64u(env.tag),
    };
  }

  /** JSON text exactly as SPEC.md §5.2 writes it (Python json.dumps layout: ", " and ": "). */
  function encodeJson(env) {
    const o = toObject(env);
    return `{"v": ${o.v}, "dir": "${o.dir}", "type": "${o.type}", "dev": "${o.dev}", "seq": ${o.seq}, "ts": ${o.ts}, `
      + `"iv": "${o.iv}", "ct": "${o.ct}", "tag": "${o.tag}"}`;
  }

  function encodeLean(env) {
    if (env.form !== 'lean') throw new E.MalformedError('a compact/JSON envelope has no lean encoding (its keys and tag differ)');
    return prim.b64u(toLeanBytes(env));
  }

  /** Envelope text in the given format: 'compact' (default) or 'json' for v1 envelopes, 'lean' for lean ones. */
  function encode(env, format) {
    format = checkFormat(format === undefined && env && env.form === 'lean' ? 'lean' : format);
    if (format === 'compact') return encodeCompact(env);
    if (format === 'json') return encodeJson(env);
    if (format === 'lean-raw') {
      if (env.form !== 'lean') throw new E.MalformedError('a compact/JSON envelope has no lean encoding (its keys and tag differ)');
      return toLeanBytes(env);
    }
    return encodeLean(env);
  }

  function fromMembers(members) {
    // members: Map name -> {kind, value} from the JSON reader (known names only, each at most once)
    const missing = JSON_MEMBERS.filter((k) => !members.has(k));
    if (missing.length) throw new E.MalformedError(`JSON envelope: missing ${missing.join(', ')}`);
    const get = (k) => members.get(k);
    if (get('v').kind !== 'int') throw new E.MalformedError('JSON envelope: v must be the integer 1');
    if (get('v').value !== VERSION) throw new E.UnsupportedVersionError(`envelope version ${E.quote(get('v').value)} is not supported (this is v${VERSION})`);
    for (const k of ['dir', 'type', 'dev', 'iv', 'ct', 'tag']) {
      if (get(k).kind !== 'string') throw new E.MalformedError(`JSON envelope: ${k} must be a string`);
    }
    const num = (k) => {
      const m = get(k);
      if (m.kind !== 'int') throw new E.MalformedError(`${k} must be an integer, got ${m.kind === 'number' ? 'a fraction or exponent' : m.kind}`);
      return checkU32(m.value, k);
    };
    const direction = get('dir').value;
    const type = get('type').value;
    if (!own(DIRECTIONS, direction)) throw new E.MalformedError(`JSON envelope: dir ${E.quote(direction)} is not 'up' or 'down'`);
    if (!own(TYPES, type)) throw new E.MalformedError(`JSON envelope: type ${E.quote(type)} is not one of ${Object.keys(TYPES).join(', ')}`);
    const device = checkDevice(get('dev').value);
    const seq = num('seq');
    const ts = num('ts');
    return makeEnvelope({
      version: VERSION, direction, type, device, seq, ts,
      iv: b64uDecode(get('iv').value, 'iv'), ct: b64uDecode(get('ct').value, 'ct'), tag: b64uDecode(get('tag').value, 'tag'),
    });
  }

  /**
   * Parse envelope text. format: 'compact', 'json', 'lean', or undefined to tell compact from JSON by the first
   * character ('{' means JSON; the lean form is never guessed). opts.device: the device id of a lean envelope.
   */
  function decode(input, format, opts) {
    if (format === 'lean-raw') return decodeLean(input, (opts || {}).device);
    const text = envelopeText(input);
    if (format === undefined || format === null) format = /^[ \t\r\n]*\{/.test(text) ? 'json' : 'compact';
    if (format === 'json') return fromMembers(parseEnvelopeJson(text, JSON_NAMES));
    if (format === 'compact') return fromBytes(b64uDecode(text, 'compact envelope'));
    if (format === 'lean') return fromLeanBytes(b64uDecode(text, 'lean envelope'), (opts || {}).device);
    return checkFormat(format);
  }

  /** Decode raw (binary) lean bytes, e.g. a LoRaWAN frm_payload; never stripped. */
  function decodeLean(raw, device) {
    if (!(raw instanceof Uint8Array)) throw new E.MalformedError('a raw lean envelope must be a Uint8Array/Buffer');
    return fromLeanBytes(raw, device);
  }

  function sealFields(opts) {
    const ts = opts.ts === undefined || opts.ts === null ? Math.floor(Date.now() / 1000) : opts.ts;
    const f = {
      direction: checkDirection(opts.direction || 'up'), type: checkType(opts.type || 'data'),
      device: checkDevice(opts.device), seq: checkU32(opts.seq, 'seq'), ts: checkU32(ts, 'ts'),
    };
    return f;
  }

  function checkPlaintextSize(data, overhead) {
    if (data.length + overhead > MAX_RAW) {
      throw new E.MalformedError(`a ${data.length}-byte plaintext makes an envelope over the ${MAX_TEXT}-byte text limit (SPEC.md §5)`);
    }
  }

  /**
   * Encrypt and authenticate; returns the envelope object (encode it with encode(env, 'compact'|'json')).
   * opts: device (required), seq (required), ts (default now; 0 = time unknown), direction ('up'), type
   * ('data'), iv (test vectors only: leave it out so a fresh CSPRNG IV is used), format ('lean' seals a lean
   * envelope, SPEC.md §5.3).
   */
  function sealEnvelope(secret, plaintext, opts) {
    opts = opts || {};
    if (opts.format === 'lean' || opts.format === 'lean-raw') return sealLeanEnvelope(secret, plaintext, opts);
    const keys = keysFor(secret);
    const data = S.asBytes(plaintext, 'plaintext');
    const f = sealFields(opts);
    const n = f.device.length;
    checkPlaintextSize(data, 4 + n + 8 + IV_LEN + 16 + TAG_LEN - (data.length % 16));
    let iv = opts.iv;
    if (iv === undefined || iv === null) iv = S.randomBytes(IV_LEN);
    else {
      iv = B.parseKeyText(iv, 'IV');
      if (iv.length !== IV_LEN) throw new E.KeyFormatError(`IV is ${iv.length} bytes; must be 16`);
    }
    const ct = prim.encryptCbc(keys.encKey, iv, data);
    const wire = compactLayout(f, ct.length);
    wire.set(iv, 12 + n);
    wire.set(ct, 28 + n);
    const end = wire.length - TAG_LEN;
    wire.set(prim.hmac(keys.macKey, wire.subarray(0, end)).subarray(0, TAG_LEN), end);
    f.iv = wire.subarray(12 + n, 28 + n);
    f.ct = wire.subarray(28 + n, end);
    f.tag = wire.subarray(end);
    return envelopeObject(f, wire);
  }

  function sealLeanEnvelope(secret, plaintext, opts) {
    if (opts.iv !== undefined && opts.iv !== null) throw new E.MalformedError('the lean form derives its IV from seq: opts.iv is not used');
    const keys = keysFor(secret);
    const data = S.asBytes(plaintext, 'plaintext');
    const f = sealFields(opts);
    const t = f.ts ? 4 : 0;
    checkPlaintextSize(data, 5 + t + 16 + LEAN_TAG_LEN - (data.length % 16));
    const hdr = leanHeader(f.direction, f.type, f.ts);
    const iv = prim.encryptBlock(keys.leanEncKey, leanNonce(hdr, f.seq));
    f.form = 'lean';
    f.iv = null;
    f.ct = prim.encryptCbc(keys.leanEncKey, iv, data);
    f.tag = prim.hmac(keys.leanMacKey, leanMacInput(f)).subarray(0, LEAN_TAG_LEN);
    const env = envelopeObject(f, null);
    return envelopeObject(f, toLeanBytes(env));
  }

  /**
   * Seal and return the envelope text (opts.format 'compact' (default), 'json' or 'lean'), or with format
   * 'lean-raw' the raw lean bytes (as sealLean; the Python API's format name).
   */
  function seal(secret, plaintext, opts) {
    const format = checkFormat((opts || {}).format);
    if (format === 'lean-raw') return sealLean(secret, plaintext, opts);
    const env = sealEnvelope(secret, plaintext, opts);
    const text = format === 'json' ? encodeJson(env) : prim.b64u(env.wire);
    if (text.length > MAX_TEXT) throw new E.MalformedError(`the envelope would be ${text.length} characters; the limit is ${MAX_TEXT} (SPEC.md §5)`);
    return text;
  }

  /** Seal a lean envelope and return its raw bytes (for binary transports such as a LoRaWAN frame). */
  function sealLean(secret, plaintext, opts) {
    return sealLeanEnvelope(secret, plaintext, { ...(opts || {}), format: 'lean' }).wire;
  }

  /** The raw secret for `device` from keys (one secret, Map, object or function), unparsed (keysFor parses). */
  function secretFor(keys, device) {
    if (keys instanceof Uint8Array || typeof keys === 'string') return keys;
    let secret;
    if (keys instanceof Map) secret = keys.get(device);
    else if (typeof keys === 'function') secret = keys(device);
    else if (keys && typeof keys === 'object') secret = own(keys, device) ? keys[device] : undefined;
    else throw new E.KeyFormatError('keys must be a secret, a Map/object of device id -> secret, or a function');
    if (secret === undefined || secret === null) throw new E.UnknownDeviceError(`no secret known for device ${E.quote(device)}`);
    return secret;
  }

  /** The device secret (bytes) for `device`. */
  function lookup(keys, device) {
    return keysFor(secretFor(keys, device)).raw;
  }

  function checkFreshness(ts, now, policy) {
    const p = policy === DEFAULT_FRESHNESS ? policy : { ...DEFAULT_FRESHNESS, ...policy };
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

  /** Strict PKCS#7 (SPEC.md §6 step 5): only the last block is looked at, without early exit. */
  function unpadPkcs7(data) {
    const p = data[data.length - 1];
    if (p < 1 || p > 16) throw new E.PaddingError(`invalid Pkcs7 padding: last byte is not in 1..16`);
    let bad = 0;
    for (let i = data.length - p; i < data.length - 1; i++) bad |= data[i] ^ p;
    if (bad) throw new E.PaddingError('invalid Pkcs7 padding: the padding bytes differ');
    return data.subarray(0, data.length - p);
  }

  /** SPEC.md §6 steps 2-8 on a decoded envelope. */
  function openEnvelope(keys, env, opts) {
    opts = opts || {};
    const expect = opts.direction || 'up';
    if (env.direction !== expect) {
      checkDirection(expect);
      throw new E.DirectionError(`envelope travels ${env.direction} but this receiver expects ${expect} (a reflected message?)`);
    }
    const k = keysFor(secretFor(keys, env.device));
    const lean = env.form === 'lean';
    const mac = prim.hmac(lean ? k.leanMacKey : k.macKey, macInput(env));
    if (!S.constantTimeEqual(mac.subarray(0, lean ? LEAN_TAG_LEN : TAG_LEN), env.tag)) {
      throw new E.AuthenticationError('authentication tag does not match (wrong secret or device, or the envelope was altered)');
    }
    const iv = lean ? prim.encryptBlock(k.leanEncKey, leanNonce(leanHeader(env.direction, env.type, env.ts), env.seq)) : env.iv;
    const plaintext = unpadPkcs7(prim.decryptCbcRaw(lean ? k.leanEncKey : k.encKey, iv, env.ct));
    const freshness = opts.freshness === undefined ? DEFAULT_FRESHNESS : opts.freshness;
    if (freshness) {
      const now = opts.now === undefined || opts.now === null ? Math.floor(Date.now() / 1000) : opts.now;
      checkFreshness(env.ts, now, freshness);
    }
    if (opts.replay) opts.replay.accept(env.device, env.direction, env.seq);
    return new Opened(plaintext, env);
  }

  /**
   * Open envelope text (any encoding). keys: one secret (bytes, hex or "b64:..."), a Map or object of device
   * id -> secret, or a function(device) returning the secret or undefined. opts: direction ('up'), format
   * (undefined: compact or JSON by the first character; 'lean' (text) and 'lean-raw' (bytes, never stripped)
   * need opts.device), device (lean only),
   * freshness (null disables; else {skew, maxAge, allowUnknownTime}), now, replay ({accept(device, direction,
   * seq)}, called last).
   */
  function open(keys, text, opts) {
    const o = opts || {};
    return openEnvelope(keys, decode(text, o.format, o), o);
  }

  /** Open raw lean bytes (not text: nothing is stripped); opts as open(), opts.device required. */
  function openLean(keys, raw, opts) {
    const o = opts || {};
    return openEnvelope(keys, decodeLean(raw, o.device), o);
  }

  return {
    deriveKeys, deriveLeanKeys, lookup, seal, sealEnvelope, sealLean, open, openEnvelope, openLean, decode, decodeLean, encode,
    encodeCompact, encodeJson, encodeLean, toObject, toBytes, macInput, checkFreshness,
  };
}

module.exports = {
  bind, checkDevice, envelopeText, VERSION, DIRECTIONS, TYPES, EPOCH_2000, DEFAULT_FRESHNESS, TAG_LEN, LEAN_TAG_LEN,
  IV_LEN, MAX_TEXT, MAX_RAW, FORMATS,
};
