'use strict';
// Byte helpers shared by the envelope and the legacy profiles, bound to one crypto-js instance.
//
// The public API speaks Uint8Array (a Node Buffer is one); crypto-js speaks WordArray. Base64 text is
// validated here before crypto-js's (lenient) Base64.parse sees it, so what is accepted is decided by us.

const { MalformedError, KeyFormatError } = require('./errors');

const HAS_BUFFER = typeof Buffer !== 'undefined';
const STD_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_RE = /^[A-Za-z0-9_-]*$/;

function out(u8) {
  return HAS_BUFFER ? Buffer.from(u8.buffer, u8.byteOffset, u8.length) : u8;
}

function concat(parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const res = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { res.set(p, at); at += p.length; }
  return res;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder('utf-8', { fatal: true });

function utf8Encode(text) { return HAS_BUFFER ? Buffer.from(text, 'utf8') : ENCODER.encode(text); }

function utf8Decode(bytes, what) {
  try {
    return DECODER.decode(bytes);
  } catch (e) {
    throw new MalformedError(`${what || 'data'} is not UTF-8 text`);
  }
}

/** Number of bytes `text` takes in UTF-8 (lone surrogates count as the 3 bytes of U+FFFD). */
function utf8Length(text) {
  if (HAS_BUFFER) return Buffer.byteLength(text, 'utf8');
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; } else n += 3;
  }
  return n;
}

const B64U_VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => { B64U_VALUE[c.charCodeAt(0)] = i; });

/**
 * Strict unpadded base64url (SPEC.md §5.1): alphabet, length not 1 mod 4, unused trailing bits zero. Throws
 * MalformedError naming the defect; returns nothing. One pass over the text (a regex test).
 */
function checkB64u(text, what) {
  what = what || 'base64url';
  if (typeof text !== 'string') throw new MalformedError(`${what}: expected text`);
  if (!URL_RE.test(text)) {
    let c = null;
    for (const ch of text) if (!/[A-Za-z0-9_-]/.test(ch)) { c = ch; break; }
    const hint = c === '=' ? " ('=' padding is not used)" : ('+/'.includes(c) ? ' (that is the standard alphabet; envelope v1 uses base64url)' : '');
    throw new MalformedError(`${what}: invalid character ${JSON.stringify(c)}${hint}`);
  }
  const rest = text.length % 4;
  if (rest === 1) throw new MalformedError(`${what}: impossible length ${text.length} (a character is missing or extra)`);
  if (rest && (B64U_VALUE[text.charCodeAt(text.length - 1)] & (rest === 2 ? 0x0f : 0x03))) {
    throw new MalformedError(`${what}: non-canonical base64 (unused trailing bits are not zero)`);
  }
}

function hexEncode(bytes) {
  let s = '';
  for (const b of bytes) s += (b < 16 ? '0' : '') + b.toString(16);
  return s;
}

function hexDecode(text, what) {
  if (typeof text !== 'string' || text.length % 2 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new KeyFormatError(`${what || 'hex'}: not an even number of hex digits`);
  }
  const res = new Uint8Array(text.length / 2);
  for (let i = 0; i < res.length; i++) res[i] = parseInt(text.substr(2 * i, 2), 16);
  return out(res);
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Constant-time comparison: every byte is inspected whatever the first difference. */
function constantTimeEqual(a, b) {
  if (a.length !== b.length) return false; // lengths are public (the tag length is fixed)
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

let nodeRandomFill = null;
try {
  // eslint-disable-next-line global-require
  nodeRandomFill = require('crypto').randomFillSync || null;
} catch (e) {
  nodeRandomFill = null; // not Node.js: the Web Crypto API below
}

function randomBytes(n) {
  // Always the platform CSPRNG. crypto-js 3.x's WordArray.random is Math.random based: never used here.
  if (nodeRandomFill) return nodeRandomFill(Buffer.allocUnsafe(n));
  const res = new Uint8Array(n);
  if (typeof globalThis !== 'undefined' && globalThis.crypto && globalThis.crypto.getRandomValues) {
    globalThis.crypto.getRandomValues(res);
    return res;
  }
  throw new Error('no cryptographically secure random source (crypto.getRandomValues) on this platform');
}

function asBytes(value, what) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return utf8Encode(value);
  if (HAS_BUFFER && Buffer.isBuffer(value)) return value;
  if (value && value.buffer instanceof ArrayBuffer && typeof value.byteLength === 'number') {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new MalformedError(`${what || 'data'} must be a Uint8Array/Buffer or a string`);
}

function bind(CryptoJS) {
  const WordArray = CryptoJS.lib.WordArray;

  function toWords(bytes) {
    const words = [];
    for (let i = 0; i < bytes.length; i++) words[i >>> 2] |= bytes[i] << (24 - (i % 4) * 8);
    return WordArray.create(words, bytes.length);
  }

  function fromWords(wa) {
    const n = Math.max(0, wa.sigBytes);
    const res = new Uint8Array(n);
    for (let i = 0; i < n; i++) res[i] = (wa.words[i >>> 2] >>> (24 - (i % 4) * 8)) & 0xff;
    return out(res);
  }

  function encodeStd(bytes) { return CryptoJS.enc.Base64.stringify(toWords(bytes)); }

  function encodeUrl(bytes) {
    return encodeStd(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function badChar(text, okRe) {
    for (const c of text) if (!okRe.test(c)) return c;
    return null;
  }

  /** Strict unpadded base64url (SPEC.md §5.1). */
  function decodeUrl(text, what) {
    what = what || 'base64url';
    if (typeof text !== 'string') throw new MalformedError(`${what}: expected text`);
    if (!URL_RE.test(text)) {
      const c = badChar(text, /[A-Za-z0-9_-]/);
      const hint = c === '=' ? " ('=' padding is not used)" : ('+/'.includes(c) ? ' (that is the standard alphabet; envelope v1 uses base64url)' : '');
      throw new MalformedError(`${what}: invalid character ${JSON.stringify(c)}${hint}`);
    }
    if (text.length % 4 === 1) throw new MalformedError(`${what}: impossible length ${text.length} (a character is missing or extra)`);
    const std = text.replace(/-/g, '+').replace(/_/g, '/');
    const raw = fromWords(CryptoJS.enc.Base64.parse(std + '='.repeat((4 - (std.length % 4)) % 4)));
    if (encodeUrl(raw) !== text) throw new MalformedError(`${what}: non-canonical base64 (unused trailing bits are not zero)`);
    return raw;
  }

  /** Strict standard base64 with '=' padding; errors name the likely cause. */
  function decodeStd(text, what) {
    what = what || 'base64';
    if (typeof text !== 'string') throw new MalformedError(`${what}: expected text`);
    if (!STD_RE.test(text)) {
      const c = badChar(text, /[A-Za-z0-9+/=]/);
      if (c === null) throw new MalformedError(`${what}: '=' padding in the middle of the text`);
      if (c === '\n' || c === '\r') {
        throw new MalformedError(`${what}: contains a line break (line-wrapped base64, e.g. from \`openssl enc -a\` without -A;`
          + ' crypto-js silently decrypts such text to an empty string)');
      }
      const hint = '-_'.includes(c) ? ' (that is the url-safe alphabet)' : '';
      throw new MalformedError(`${what}: invalid character ${JSON.stringify(c)}${hint}`);
    }
    if (text.length % 4) throw new MalformedError(`${what}: length ${text.length} is not a multiple of 4 ('=' padding missing?)`);
    const raw = fromWords(CryptoJS.enc.Base64.parse(text));
    if (encodeStd(raw) !== text) throw new MalformedError(`${what}: non-canonical base64 (unused trailing bits are not zero)`);
    return raw;
  }

  /** Key text: hex (optionally 0x...), or "b64:<base64 either alphabet>"; or bytes as they are. */
  function parseKeyText(value, what) {
    what = what || 'key';
    if (value instanceof Uint8Array) return value;
    if (typeof value !== 'string') throw new KeyFormatError(`${what}: expected hex text, "b64:..." or bytes`);
    let text = value.trim();
    if (text.startsWith('b64:')) {
      const body = text.slice(4).replace(/=+$/, '');
      if (/[+/]/.test(body) && /[-_]/.test(body)) throw new KeyFormatError(`${what}: mixes the standard and url-safe alphabets`);
      try {
        return decodeUrl(body.replace(/\+/g, '-').replace(/\//g, '_'), what);
      } catch (e) {
        throw new KeyFormatError(e.message);
      }
    }
    if (/^0x/i.test(text)) text = text.slice(2);
    if (!text) throw new KeyFormatError(`${what}: empty`);
    if (!/^[0-9a-fA-F]*$/.test(text)) throw new KeyFormatError(`${what}: not hex (use the b64: prefix for base64)`);
    if (text.length % 2) throw new KeyFormatError(`${what}: odd number of hex digits (${text.length})`);
    return hexDecode(text, what);
  }

  return { toWords, fromWords, encodeStd, encodeUrl, decodeUrl, decodeStd, parseKeyText };
}

module.exports = {
  bind, out, concat, utf8Encode, utf8Decode, utf8Length, hexEncode, hexDecode, equalBytes, constantTimeEqual,
  randomBytes, asBytes, checkB64u,
};
