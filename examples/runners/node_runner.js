#!/usr/bin/env node
'use strict';
// A verify runner in plain Node.js: envelope v1 (compact, JSON and lean forms) and AES-CBC-PKCS7, written from
// docs/runner-protocol.md and SPEC.md alone, on node:crypto, with no iotenvelope package and no npm dependency.
//
//   iotenvelope verify --peer node-ref="node examples/runners/node_runner.js"
//
// Copy it as the start of your own runner: replace the envelope functions by calls into your library.

const crypto = require('node:crypto');
const readline = require('node:readline');

const PROTOCOL = 1;
const MAX_TEXT = 65536;
const DIRECTIONS = { up: 1, down: 2 };
const TYPES = { data: 0, 'resync-request': 1, 'resync-response': 2 };
const DIRECTION_NAMES = { 1: 'up', 2: 'down' };
const TYPE_NAMES = { 0: 'data', 1: 'resync-request', 2: 'resync-response' };

class EnvelopeError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const fail = (code, message) => { throw new EnvelopeError(code, message); };

// ---- primitives ----------------------------------------------------------------------------------------------

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

const keyCache = new Map();
function keys(secret) {
  if (secret.length !== 16 && secret.length !== 32) fail('bad-key', 'the secret must be 16 or 32 bytes');
  const id = secret.toString('hex');
  if (!keyCache.has(id)) {
    const prk = hmac(Buffer.alloc(32), secret); // HKDF-Extract with an empty salt
    const expand = (info) => hmac(prk, Buffer.concat([Buffer.from(info, 'ascii'), Buffer.from([1])]));
    keyCache.set(id, {
      enc: expand('iotenvelope v1 enc').subarray(0, secret.length),
      mac: expand('iotenvelope v1 mac'),
      leanEnc: expand('iotenvelope v1 lean enc').subarray(0, secret.length),
      leanMac: expand('iotenvelope v1 lean mac'),
    });
  }
  return keyCache.get(id);
}

function aesName(key) {
  const bits = { 16: 128, 24: 192, 32: 256 }[key.length];
  if (!bits) fail('bad-key', 'AES keys are 16, 24 or 32 bytes');
  return `aes-${bits}-cbc`;
}

function cbcEncrypt(key, iv, plaintext) {
  const pad = 16 - (plaintext.length % 16);
  const c = crypto.createCipheriv(aesName(key), key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(Buffer.concat([plaintext, Buffer.alloc(pad, pad)])), c.final()]);
}

function cbcDecrypt(key, iv, ct) {
  if (ct.length === 0 || ct.length % 16) fail('malformed', 'the ciphertext is not whole AES blocks');
  const d = crypto.createDecipheriv(aesName(key), key, iv);
  d.setAutoPadding(false);
  const plain = Buffer.concat([d.update(ct), d.final()]);
  const p = plain[plain.length - 1];
  let bad = p < 1 || p > 16 ? 1 : 0; // strict PKCS#7
  for (let i = 1; i <= 16; i += 1) if (i <= p && plain[plain.length - i] !== p) bad = 1;
  if (bad) fail('padding', 'bad PKCS#7 padding');
  return plain.subarray(0, plain.length - p);
}

function aesBlock(key, block) { // AES-ECB of one block = CBC under a zero IV
  const c = crypto.createCipheriv(aesName(key), key, Buffer.alloc(16));
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function b64uDecode(text, what) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) fail('malformed', `${what}: not base64url`);
  const raw = Buffer.from(text, 'base64url');
  if (raw.toString('base64url') !== text) fail('malformed', `${what}: non-canonical base64url`);
  return raw;
}

function stripNewline(text) {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

function checkText(text) {
  const t = stripNewline(text);
  if (Buffer.byteLength(t, 'utf8') > MAX_TEXT) fail('malformed', 'envelope text longer than 65536 bytes');
  return t;
}

function validDevice(dev) {
  if (dev.length < 1 || dev.length > 64) return false;
  for (const ch of dev) {
    const c = ch.charCodeAt(0);
    if (ch.length !== 1 || c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

// ---- compact and JSON forms (SPEC §4, §5.1, §5.2) -----------------------------------------------------------

function macInput(f) {
  return Buffer.concat([Buffer.from([1, DIRECTIONS[f.direction], TYPES[f.type], f.device.length]),
    Buffer.from(f.device, 'ascii'), u32(f.seq), u32(f.ts), f.iv, f.ct]);
}

function decodeCompact(text) {
  const raw = b64uDecode(checkText(text), 'compact envelope');
  if (raw.length < 61) fail('malformed', 'too short');
  if (raw[0] !== 1) fail('unsupported-version', 'version is not 1');
  if (!DIRECTION_NAMES[raw[1]] || !TYPE_NAMES[raw[2]]) fail('malformed', 'bad direction or type');
  const L = raw[3];
  if (L < 1 || L > 64 || 4 + L + 8 + 16 + 16 > raw.length) fail('malformed', 'bad device length');
  const device = raw.subarray(4, 4 + L).toString('latin1');
  if (!validDevice(device)) fail('malformed', 'bad device id');
  const ct = raw.subarray(4 + L + 24, raw.length - 16);
  if (ct.length === 0 || ct.length % 16) fail('malformed', 'bad ciphertext length');
  return { direction: DIRECTION_NAMES[raw[1]], type: TYPE_NAMES[raw[2]], device, seq: raw.readUInt32BE(4 + L),
    ts: raw.readUInt32BE(8 + L), iv: raw.subarray(12 + L, 28 + L), ct, tag: raw.subarray(raw.length - 16) };
}

// A flat JSON object of scalars, read in one pass (SPEC §5: refuse at the first unknown or duplicated member,
// a tenth member, or an object/array value). Numbers keep their text, so 1.0 and 1e3 can be refused.
const MEMBERS = ['v', 'dir', 'type', 'dev', 'seq', 'ts', 'iv', 'ct', 'tag'];
function parseFlatObject(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i += 1; };
  const bad = (why) => fail('malformed', `JSON envelope: ${why}`);
  const str = () => {
    if (text[i] !== '"') bad('expected a string');
    i += 1;
    let out = '';
    for (;;) {
      if (i >= text.length) bad('unterminated string');
      const ch = text[i];
      if (ch === '"') { i += 1; return out; }
      if (ch < ' ') bad('control character in a string');
      if (ch === '\\') {
        const e = text[i + 1];
        const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
        if (simple !== undefined) { out += simple; i += 2; continue; }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        bad('bad escape');
      }
      out += ch;
      i += 1;
    }
  };
  const value = () => {
    const ch = text[i];
    if (ch === '"') return { kind: 'string', value: str() };
    if (ch === '{' || ch === '[') bad('object or array value');
    const m = /^(?:true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/.exec(text.slice(i, i + 40));
    if (!m) bad('bad value');
    i += m[0].length;
    if (m[0] === 'true' || m[0] === 'false' || m[0] === 'null') return { kind: m[0] === 'null' ? 'null' : 'bool' };
    return { kind: 'number', text: m[0] };
  };
  const members = new Map();
  ws();
  if (text[i] !== '{') bad('not an object');
  i += 1;
  ws();
  if (text[i] === '}') { i += 1; } else {
    for (;;) {
      ws();
      const key = str();
      if (!MEMBERS.includes(key)) bad('unknown member');
      if (members.has(key)) bad('duplicated member');
      ws();
      if (text[i] !== ':') bad('expected :');
      i += 1;
      ws();
      members.set(key, value());
      ws();
      if (text[i] === ',') { i += 1; continue; }
      if (text[i] === '}') { i += 1; break; }
      bad('expected , or }');
    }
  }
  ws();
  if (i !== text.length) bad('text after the object');
  return members;
}

function jsonInt(member, name) {
  if (!member || member.kind !== 'number' || !/^-?[0-9]{1,10}$/.test(member.text)) fail('malformed', `${name}: not an integer`);
  const n = Math.abs(Number(member.text)); // "-0" is 0; any other negative is out of range below
  if (member.text.startsWith('-') && n !== 0) fail('malformed', `${name}: out of range`);
  if (n > 0xffffffff) fail('malformed', `${name}: out of range`);
  return n;
}

function jsonStr(member, name) {
  if (!member || member.kind !== 'string') fail('malformed', `${name}: not a string`);
  return member.value;
}

function decodeJson(text) {
  const m = parseFlatObject(checkText(text));
  for (const name of MEMBERS) if (!m.has(name)) fail('malformed', `member ${name} missing`);
  if (jsonInt(m.get('v'), 'v') !== 1) fail('unsupported-version', 'v is not 1');
  const direction = jsonStr(m.get('dir'), 'dir');
  const type = jsonStr(m.get('type'), 'type');
  const device = jsonStr(m.get('dev'), 'dev');
  if (!(direction in DIRECTIONS) || !(type in TYPES) || !validDevice(device)) fail('malformed', 'bad dir, type or dev');
  const f = { direction, type, device, seq: jsonInt(m.get('seq'), 'seq'), ts: jsonInt(m.get('ts'), 'ts'),
    iv: b64uDecode(jsonStr(m.get('iv'), 'iv'), 'iv'), ct: b64uDecode(jsonStr(m.get('ct'), 'ct'), 'ct'),
    tag: b64uDecode(jsonStr(m.get('tag'), 'tag'), 'tag') };
  if (f.iv.length !== 16 || f.tag.length !== 16 || f.ct.length === 0 || f.ct.length % 16) {
    fail('malformed', 'bad iv, ct or tag length');
  }
  return f;
}

function openEnvelope(secret, text, form, expected) {
  const f = form === 'json' ? decodeJson(text) : decodeCompact(text);
  if (f.direction !== expected) fail('wrong-direction', 'envelope for the other direction');
  const k = keys(secret);
  const tag = hmac(k.mac, macInput(f)).subarray(0, 16);
  if (!crypto.timingSafeEqual(tag, f.tag)) fail('auth', 'tag mismatch');
  return { ...f, plaintext: cbcDecrypt(k.enc, f.iv, f.ct) };
}

function sealEnvelope(secret, plaintext, fields, iv, form) {
  const k = keys(secret);
  const f = { ...fields, iv, ct: cbcEncrypt(k.enc, iv, plaintext) };
  const tag = hmac(k.mac, macInput(f)).subarray(0, 16);
  const text = form === 'json'
    ? `{"v": 1, "dir": ${JSON.stringify(f.direction)}, "type": ${JSON.stringify(f.type)}, "dev": ${JSON.stringify(f.device)}, `
      + `"seq": ${f.seq}, "ts": ${f.ts}, "iv": "${iv.toString('base64url')}", "ct": "${f.ct.toString('base64url')}", `
      + `"tag": "${tag.toString('base64url')}"}`
    : Buffer.concat([macInput(f), tag]).toString('base64url');
  if (Buffer.byteLength(text) > MAX_TEXT) fail('malformed', 'the envelope would exceed 65536 bytes');
  return text;
}

// ---- lean form (SPEC §5.3) ---------------------------------------------------------------------------------

function leanIv(k, hdr, seq) {
  return aesBlock(k.leanEnc, Buffer.concat([Buffer.from([0x4c, hdr & 0x0f]), u32(seq), Buffer.alloc(10)]));
}

function leanMacInput(hdr, device, seq, ts, ct) {
  return Buffer.concat([Buffer.from([hdr, device.length]), Buffer.from(device, 'ascii'), u32(seq),
    (hdr & 0x10) ? u32(ts) : Buffer.alloc(0), ct]);
}

function openLean(secret, text, device, expected) {
  const raw = b64uDecode(checkText(text), 'lean envelope');
  if (raw.length < 1) fail('malformed', 'empty');
  const hdr = raw[0];
  if ((hdr >> 5) !== 0b010) fail('unsupported-version', 'not the lean form of v1');
  const d = (hdr >> 2) & 3;
  const y = hdr & 3;
  if (d === 0 || d === 3 || y === 3) fail('malformed', 'bad direction or type bits');
  const t = (hdr >> 4) & 1;
  const head = 5 + 4 * t;
  const ctLen = raw.length - head - 8;
  if (raw.length < (t ? 33 : 29) || ctLen <= 0 || ctLen % 16) fail('malformed', 'bad length');
  const seq = raw.readUInt32BE(1);
  const ts = t ? raw.readUInt32BE(5) : 0;
  if (t && ts === 0) fail('malformed', 'ts on the wire is 0');
  const direction = DIRECTION_NAMES[d];
  if (direction !== expected) fail('wrong-direction', 'envelope for the other direction');
  if (typeof device !== 'string' || !validDevice(device)) fail('malformed', 'bad device id');
  const k = keys(secret);
  const ct = raw.subarray(head, head + ctLen);
  const tag = hmac(k.leanMac, leanMacInput(hdr, device, seq, ts, ct)).subarray(0, 8);
  if (!crypto.timingSafeEqual(tag, raw.subarray(raw.length - 8))) fail('auth', 'tag mismatch');
  return { direction, type: TYPE_NAMES[y], device, seq, ts, plaintext: cbcDecrypt(k.leanEnc, leanIv(k, hdr, seq), ct) };
}

function sealLean(secret, plaintext, f) {
  if (!validDevice(f.device)) fail('malformed', 'bad device id');
  const k = keys(secret);
  const hdr = 0x40 | (f.ts ? 0x10 : 0) | (DIRECTIONS[f.direction] << 2) | TYPES[f.type];
  const ct = cbcEncrypt(k.leanEnc, leanIv(k, hdr, f.seq), plaintext);
  const tag = hmac(k.leanMac, leanMacInput(hdr, f.device, f.seq, f.ts, ct)).subarray(0, 8);
  const raw = Buffer.concat([Buffer.from([hdr]), u32(f.seq), f.ts ? u32(f.ts) : Buffer.alloc(0), ct, tag]);
  return raw.toString('base64url');
}

// ---- the protocol ------------------------------------------------------------------------------------------

const hex = (s) => {
  if (typeof s !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(s)) throw new TypeError('not hex');
  return Buffer.from(s, 'hex');
};

function sealFields(r) {
  if (!(r.direction in DIRECTIONS) || !(r.type in TYPES) || !Number.isInteger(r.seq) || !Number.isInteger(r.ts)
      || r.seq < 0 || r.seq > 0xffffffff || r.ts < 0 || r.ts > 0xffffffff || typeof r.device !== 'string') {
    throw new TypeError('bad header fields');
  }
  return { direction: r.direction, type: r.type, device: r.device, seq: r.seq, ts: r.ts };
}

const OPS = {
  open(r) {
    const secret = hex(r.secret_hex);
    const o = r.form === 'lean' ? openLean(secret, r.envelope, r.device, r.direction)
      : openEnvelope(secret, r.envelope, r.form, r.direction);
    return { plaintext_hex: o.plaintext.toString('hex'), device: o.device, direction: o.direction, type: o.type,
      seq: o.seq, ts: o.ts };
  },
  // each envelope in turn against one fresh replay window (SPEC §6 step 7, W = 64) for this device and direction
  'open-many': (r) => {
    const W = 64;
    let top = null;
    const seen = new Set();
    const results = r.envelopes.map((text) => {
      try {
        const o = OPS.open({ ...r, envelope: text });
        if (top !== null && o.seq <= top - W) fail('replay-too-old', 'below the window');
        if (seen.has(o.seq)) fail('replay-duplicate', 'seen before');
        seen.add(o.seq);
        if (top === null || o.seq > top) top = o.seq;
        for (const s of seen) if (s <= top - W) seen.delete(s);
        return { ok: true, ...o };
      } catch (e) {
        if (e instanceof EnvelopeError) return { ok: false, error: e.code, message: e.message };
        throw e;
      }
    });
    return { results };
  },
  seal(r) {
    const f = sealFields(r);
    if (r.form === 'lean') return { envelope: sealLean(hex(r.secret_hex), hex(r.plaintext_hex), f) };
    if (!validDevice(f.device)) fail('malformed', 'bad device id');
    return { envelope: sealEnvelope(hex(r.secret_hex), hex(r.plaintext_hex), f, hex(r.iv_hex), r.form) };
  },
  'cbc-decrypt': (r) => ({ plaintext_hex: cbcDecrypt(hex(r.key_hex), hex(r.iv_hex), hex(r.ct_hex)).toString('hex') }),
  'cbc-encrypt': (r) => ({ ct_hex: cbcEncrypt(hex(r.key_hex), hex(r.iv_hex), hex(r.plaintext_hex)).toString('hex') }),
};
const FORMS = ['compact', 'json', 'lean'];

function answer(r) {
  if (r.op === 'hello') {
    return { id: r.id, ok: true, protocol: PROTOCOL, name: 'node-reference-runner', version: process.version,
      ops: Object.keys(OPS), forms: FORMS, profiles: [] };
  }
  if (!OPS[r.op] || (r.form !== undefined && !FORMS.includes(r.form))) {
    return { id: r.id, ok: false, error: 'unsupported', message: 'not implemented here' };
  }
  try {
    return { id: r.id, ok: true, ...OPS[r.op](r) };
  } catch (e) {
    if (e instanceof EnvelopeError) return { id: r.id, ok: false, error: e.code, message: e.message };
    return { id: r.id, ok: false, error: 'bad-request', message: String(e.message).slice(0, 200) };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let request;
  try { request = JSON.parse(line); } catch (e) { request = null; }
  const out = request && typeof request === 'object' ? answer(request)
    : { id: null, ok: false, error: 'bad-request', message: 'not a JSON object' };
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
