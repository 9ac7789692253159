'use strict';
// This package as a verify runner (docs/runner-protocol.md, protocol 1): `node bridge.js --protocol LIB` answers
// verify's requests with one backend instance (LIB "node" = node:crypto, or a crypto-js version). verify builds
// every request from the vector files and judges every answer; nothing here knows a vector file.
// Not part of the npm package.

const S = require('../lib/bytes');

const PROTOCOL = 1;
const FORMS = ['compact', 'json', 'lean'];
const PROFILES = ['cryptojs-passphrase', 'cryptojs-key', 'esp8266-b64'];

class BadRequest extends Error {}

function member(req, key, type) {
  const v = req[key];
  const ok = type === 'integer' ? Number.isSafeInteger(v) : typeof v === type; // eslint-disable-line valid-typeof
  if (v === undefined || v === null || !ok) throw new BadRequest(`member ${key} missing or not ${type}`);
  return v;
}

function hexMember(req, key) {
  const v = member(req, key, 'string');
  if (!/^(?:[0-9a-f]{2})*$/.test(v)) throw new BadRequest(`member ${key} is not lowercase hex`);
  return S.hexDecode(v);
}

function params(req) {
  const p = req.params === undefined ? {} : req.params;
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw new BadRequest('params must be an object');
  return p;
}

/** What crypto-js's own high-level API returns for passphrase text (its unpadding checks nothing), as hex. */
function nativePassphraseHex(ie, text, passphrase, keySize, kdf) {
  const C = ie.CryptoJS;
  if (keySize === 256 && kdf === 'evp-md5') return C.AES.decrypt(text, passphrase).toString(C.enc.Hex); // the everyday call
  if (keySize === 256 && kdf === 'evp-sha256' && C.kdf.OpenSSL.execute.length >= 5) {
    // crypto-js >= 4.2.0 only: the {hasher} option (older versions ignore it silently and use MD5)
    return C.AES.decrypt(text, passphrase, { hasher: C.algo.SHA256 }).toString(C.enc.Hex);
  }
  const { salt, ct } = ie.legacy.unpackSalted(text);
  if (keySize === 128 && kdf === 'evp-md5') {
    const p = C.kdf.OpenSSL.execute(passphrase, 4, 4, ie.bytes.toWords(salt));
    return S.hexEncode(ie.cipher.cryptojsDecrypt(ie.bytes.fromWords(p.key), ie.bytes.fromWords(p.iv), ct, 'pkcs7'));
  }
  // no crypto-js passphrase-mode call for these: its KDF (EvpKDF/PBKDF2, inside derivePassphraseKey) and its unpad
  const { key, iv } = ie.legacy.derivePassphraseKey(passphrase, salt, keySize, kdf);
  return S.hexEncode(ie.cipher.cryptojsDecrypt(key, iv, ct, 'pkcs7'));
}

/** CryptoJS.AES.decrypt(text, keyWords, {iv, padding}) as hex (a raw key: no KDF, crypto-js's own unpadding). */
function nativeKeyHex(ie, text, key, iv, padding) {
  const C = ie.CryptoJS;
  return C.AES.decrypt(text, ie.bytes.toWords(key), { iv: ie.bytes.toWords(iv), padding: ie.cipher.padObject(padding) })
    .toString(C.enc.Hex);
}

/** The non-validating result for a failed raw-key open (crypto-js's unpadding on our AES). */
function laxKeyHex(ie, text, key, iv, padding) {
  return S.hexEncode(ie.cipher.cryptojsDecrypt(key, iv, ie.bytes.decodeStd(text), padding));
}

/** A library error with its SPEC name; `lax` adds what crypto-js itself returned (lax_plaintext_hex). */
function withLax(e, lax) {
  try { e.laxHex = lax(); } catch (ignored) { /* crypto-js threw too: nothing to report */ }
  return e;
}

function makeHandler(ie, description) {
  const toOpened = (o) => ({
    plaintext_hex: S.hexEncode(o.plaintext), device: o.device, direction: o.direction, type: o.type, seq: o.seq, ts: o.ts,
  });
  const openOpts = (req) => {
    const form = member(req, 'form', 'string');
    const opts = { direction: member(req, 'direction', 'string'), format: form, freshness: null };
    if (req.now !== null && req.now !== undefined) { delete opts.freshness; opts.now = member(req, 'now', 'integer'); }
    if (form === 'lean') opts.device = member(req, 'device', 'string');
    return opts;
  };
  const secret = (req) => hexMember(req, 'secret_hex');

  // crypto-js's own call must agree with the strict library on every message it can read: a difference fails the
  // answer (the row then fails that case), as the old JS-side checker did
  const agree = (plaintextHex, nativeHex) => {
    if (nativeHex !== plaintextHex) {
      const e = new Error('crypto-js\'s own decrypt returned other bytes than the strict library');
      e.code = 'cryptojs-disagrees';
      throw e;
    }
    return { plaintext_hex: plaintextHex };
  };

  const legacy = {
    'cryptojs-passphrase': (req, sealing) => {
      const p = params(req);
      const opts = { keySize: member(p, 'key_bits', 'integer'), kdf: member(p, 'kdf', 'string') };
      const pass = member(req, 'passphrase', 'string');
      if (sealing) {
        const salt = req.salt_hex === null || req.salt_hex === undefined ? undefined : hexMember(req, 'salt_hex');
        return { text: ie.legacy.encryptPassphrase(hexMember(req, 'plaintext_hex'), pass, { ...opts, salt }) };
      }
      const text = member(req, 'text', 'string');
      const native = () => nativePassphraseHex(ie, text, pass, opts.keySize, opts.kdf);
      let plain;
      try {
        plain = S.hexEncode(ie.legacy.decryptPassphrase(text, pass, opts));
      } catch (e) {
        throw withLax(e, native);
      }
      return agree(plain, native());
    },
    'cryptojs-key': (req, sealing) => {
      const padding = member(params(req), 'padding', 'string');
      const key = hexMember(req, 'key_hex');
      const iv = hexMember(req, 'iv_hex');
      if (sealing) return { text: ie.legacy.encryptKey(hexMember(req, 'plaintext_hex'), key, iv, { padding }) };
      const text = member(req, 'text', 'string');
      let plain;
      try {
        plain = S.hexEncode(ie.legacy.decryptKey(text, key, iv, { padding }));
      } catch (e) {
        throw withLax(e, () => laxKeyHex(ie, text, key, iv, padding));
      }
      return agree(plain, nativeKeyHex(ie, text, key, iv, padding));
    },
    'esp8266-b64': (req, sealing) => {
      const key = hexMember(req, 'key_hex');
      if (sealing) {
        const ivForm = member(params(req), 'iv_form', 'string');
        return { text: ie.legacy.sealEsp8266(hexMember(req, 'plaintext_hex'), key, { iv: hexMember(req, 'iv_hex'), ivForm }) };
      }
      const { message, ivForm } = ie.legacy.openEsp8266(member(req, 'text', 'string'), key);
      return { plaintext_hex: S.hexEncode(message), iv_form: ivForm };
    },
  };

  const legacyOp = (sealing) => (req) => {
    const profile = member(req, 'profile', 'string');
    if (!PROFILES.includes(profile)) return { ok: false, error: 'unsupported', message: `no profile ${JSON.stringify(profile.slice(0, 40))}` };
    return legacy[profile](req, sealing);
  };

  const ops = {
    open: (req) => toOpened(ie.open(secret(req), member(req, 'envelope', 'string'), openOpts(req))),
    'open-many': (req) => {
      const texts = req.envelopes;
      if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw new BadRequest('envelopes must be a list of strings');
      const opts = { ...openOpts(req), replay: new ie.ReplayWindow({ size: 64 }) };
      const key = secret(req);
      return {
        results: texts.map((text) => {
          try {
            return { ok: true, ...toOpened(ie.open(key, text, opts)) };
          } catch (e) {
            if (!(e instanceof ie.IotEnvelopeError)) throw e;
            return { ok: false, error: e.code, message: e.message };
          }
        }),
      };
    },
    seal: (req) => {
      const form = member(req, 'form', 'string');
      const fields = {
        device: member(req, 'device', 'string'), seq: member(req, 'seq', 'integer'), ts: member(req, 'ts', 'integer'),
        direction: member(req, 'direction', 'string'), type: member(req, 'type', 'string'), format: form,
      };
      if (form !== 'lean') fields.iv = hexMember(req, 'iv_hex');
      return { envelope: ie.seal(secret(req), hexMember(req, 'plaintext_hex'), fields) };
    },
    'cbc-decrypt': (req) => ({
      plaintext_hex: S.hexEncode(ie.cipher.decryptCbc(hexMember(req, 'key_hex'), hexMember(req, 'iv_hex'), hexMember(req, 'ct_hex'), 'pkcs7')),
    }),
    'cbc-encrypt': (req) => ({
      ct_hex: S.hexEncode(ie.cipher.encryptCbc(hexMember(req, 'key_hex'), hexMember(req, 'iv_hex'), hexMember(req, 'plaintext_hex'), 'pkcs7')),
    }),
    'legacy-open': legacyOp(false),
    'legacy-seal': legacyOp(true),
  };

  function hello() {
    return {
      ok: true, protocol: PROTOCOL, name: description.name, version: description.version,
      ops: Object.keys(ops).sort(), forms: FORMS, profiles: PROFILES,
    };
  }

  /** One request object -> its answer object (never throws). */
  return function handle(req) {
    const id = req && typeof req === 'object' ? req.id : null;
    const op = req && typeof req === 'object' ? req.op : undefined;
    if (op === 'hello') return { id, ...hello() };
    if (!Object.prototype.hasOwnProperty.call(ops, op)) return { id, ok: false, error: 'unsupported', message: `no op ${JSON.stringify(String(op).slice(0, 40))}` };
    if (req.form !== undefined && !FORMS.includes(req.form)) return { id, ok: false, error: 'unsupported', message: 'no such form' };
    try {
      const answer = ops[op](req);
      return answer.ok === false ? { id, ...answer } : { id, ok: true, ...answer };
    } catch (e) {
      if (e instanceof BadRequest) return { id, ok: false, error: 'bad-request', message: e.message };
      const out = e instanceof ie.IotEnvelopeError || e.code === 'cryptojs-disagrees'
        ? { id, ok: false, error: e.code, message: e.message }
        // a non-library exception: not a SPEC error name, so no invalid case can pass with it
        : { id, ok: false, error: 'non-library-error', message: `${e.name}: ${String(e.message).slice(0, 200)}` };
      if (typeof e.laxHex === 'string') out.lax_plaintext_hex = e.laxHex;
      return out;
    }
  };
}

module.exports = { makeHandler, nativePassphraseHex, nativeKeyHex, PROTOCOL, FORMS, PROFILES };
