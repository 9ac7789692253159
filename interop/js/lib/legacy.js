'use strict';
// The legacy (UNAUTHENTICATED) conventions, byte for byte as crypto-js and OpenSSL write them:
//
//   cryptojs-passphrase  base64("Salted__" | salt(8) | AES-CBC(ct)), key and IV derived from a passphrase
//                        (EVP_BytesToKey MD5 or SHA-256, or PBKDF2-SHA-256); AES-256 (crypto-js's default)
//                        or AES-128 (crypto-js kdf.OpenSSL.execute(pass, 4, 4, salt)).
//   cryptojs-key         base64(AES-CBC(key, iv, msg)) with a raw 16/24/32-byte key and the IV sent apart.
//   esp8266-b64          {"iv": b64(iv), "data": b64(AES-128-CBC(key, iv, b64(message)))}; the node->device
//                        variant sends the IV as base64 of its 32-character hex string.
//
// None of them has a MAC: anyone can alter or forge these messages. Use envelope v1 for new designs.

const E = require('./errors');
const S = require('./bytes');
const C = require('./cipher');

const KEY_SIZES = [128, 256];
const HEX_KEY_RE = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{48}|[0-9a-fA-F]{64})$/;

/** 'evp-md5' | 'evp-sha256' | 'pbkdf2-sha256:ITER' -> {kind, hash, iterations} */
function parseKdf(spec) {
  spec = spec || 'evp-md5';
  if (spec === 'evp-md5') return { kind: 'evp', hash: 'md5', iterations: 1, spec };
  if (spec === 'evp-sha256') return { kind: 'evp', hash: 'sha256', iterations: 1, spec };
  const m = /^pbkdf2-sha256:([1-9][0-9]{0,8})$/.exec(spec);
  if (m) return { kind: 'pbkdf2', hash: 'sha256', iterations: Number(m[1]), spec };
  throw new E.KeyFormatError(`kdf ${JSON.stringify(spec)} is not evp-md5, evp-sha256 or pbkdf2-sha256:ITERATIONS`);
}

function checkKeySize(bits) {
  if (!KEY_SIZES.includes(bits)) throw new E.KeyFormatError(`key size ${bits} is not 128 or 256`);
  return bits;
}

/** The hint for a passphrase that looks like a hex key (crypto-js treats any string as a passphrase). */
function hexPassphraseHint(passphrase) {
  if (typeof passphrase === 'string' && HEX_KEY_RE.test(passphrase.trim())) {
    return `the passphrase is ${passphrase.trim().length} hex digits: if the sender passed CryptoJS.enc.Hex.parse(key)`
      + ' it used a raw key, not a passphrase (crypto-js treats every string key as a passphrase)';
  }
  return null;
}

function bind(CryptoJS, B, cipher) {
  function hasher(hash) {
    return hash === 'md5' ? CryptoJS.algo.MD5 : CryptoJS.algo.SHA256;
  }

  function checkPassphrase(passphrase) {
    if (typeof passphrase !== 'string' || !passphrase.length) throw new E.KeyFormatError('passphrase must be a non-empty string');
  }

  /** {key, iv} as crypto-js/OpenSSL derive them from passphrase and 8-byte salt. */
  function derivePassphraseKey(passphrase, salt, keySize, kdf) {
    checkPassphrase(passphrase);
    const k = parseKdf(kdf);
    const keyWords = checkKeySize(keySize || 256) / 32;
    if (!(salt instanceof Uint8Array) || salt.length !== 8) throw new E.MalformedError('salt must be 8 bytes');
    let material;
    if (k.kind === 'evp') {
      // Same computation as kdf.OpenSSL.execute(pass, keyWords, 4, salt) (4.2.0: with the hasher argument).
      material = CryptoJS.algo.EvpKDF.create({ keySize: keyWords + 4, hasher: hasher(k.hash), iterations: 1 })
        .compute(passphrase, B.toWords(salt));
    } else {
      material = CryptoJS.PBKDF2(passphrase, B.toWords(salt),
        { keySize: keyWords + 4, hasher: hasher(k.hash), iterations: k.iterations });
    }
    const bytes = B.fromWords(material);
    return { key: bytes.subarray(0, keyWords * 4), iv: bytes.subarray(keyWords * 4, keyWords * 4 + 16) };
  }

  /** base64 "Salted__" text; decrypts with `openssl enc -d -aes-<n>-cbc -md <h> [-pbkdf2 -iter N] -a -A`. */
  function encryptPassphrase(plaintext, passphrase, opts) {
    opts = opts || {};
    const salt = opts.salt ? B.parseKeyText(opts.salt, 'salt') : S.randomBytes(8);
    const { key, iv } = derivePassphraseKey(passphrase, salt, opts.keySize || 256, opts.kdf);
    const ct = cipher.encryptCbc(key, iv, S.asBytes(plaintext, 'plaintext'), opts.padding || 'pkcs7');
    return CryptoJS.format.OpenSSL.stringify(CryptoJS.lib.CipherParams.create({
      ciphertext: B.toWords(ct), salt: B.toWords(salt),
    }));
  }

  function unpackSalted(text) {
    const blob = B.decodeStd(typeof text === 'string' ? text.trim() : text, 'passphrase ciphertext');
    if (blob.length < 16 || !S.equalBytes(blob.subarray(0, 8), S.utf8Encode('Salted__'))) {
      throw new E.MalformedError("not an OpenSSL salted blob: it does not start with 'Salted__' and an 8-byte salt"
        + ' (was it produced with a raw key instead of a passphrase, or with -nosalt?)');
    }
    return { salt: blob.subarray(8, 16), ct: blob.subarray(16) };
  }

  /** Strict decryption of crypto-js/OpenSSL passphrase text; a wrong passphrase is an error, not "". */
  function decryptPassphrase(text, passphrase, opts) {
    opts = opts || {};
    const { salt, ct } = unpackSalted(text);
    const { key, iv } = derivePassphraseKey(passphrase, salt, opts.keySize || 256, opts.kdf);
    try {
      return cipher.decryptCbc(key, iv, ct, opts.padding || 'pkcs7');
    } catch (e) {
      if (!(e instanceof E.PaddingError)) throw e;
      const hint = hexPassphraseHint(passphrase);
      throw new E.PaddingError(`${e.message}: wrong passphrase, key size or KDF most likely (crypto-js would not`
        + ' notice: it strips padding without checking and returns "" or garbage)' + (hint ? `; ${hint}` : ''));
    }
  }

  function keyIv(key, iv, warn) {
    const k = B.parseKeyText(key, 'key');
    C.checkAesKey(k, 'key');
    if (iv === undefined || iv === null) throw new E.KeyFormatError('cryptojs-key needs an IV (crypto-js throws without one in CBC mode)');
    const v = B.parseKeyText(iv, 'IV');
    if (v.length !== 16 && warn) {
      warn(v.length < 16 ? `IV is ${v.length} bytes: crypto-js zero-pads it to 16 (as used here)`
        : `IV is ${v.length} bytes: crypto-js uses only the first 16 (as used here)`);
    }
    return { k, v };
  }

  /** base64(AES-CBC(key, iv, plaintext)) exactly as CryptoJS.AES.encrypt(msg, keyWordArray, {iv}) writes it. */
  function encryptKey(plaintext, key, iv, opts) {
    opts = opts || {};
    const { k, v } = keyIv(key, iv, opts.warn);
    return B.encodeStd(cipher.encryptCbc(k, v, S.asBytes(plaintext, 'plaintext'), opts.padding || 'pkcs7'));
  }

  function decryptKey(text, key, iv, opts) {
    opts = opts || {};
    const { k, v } = keyIv(key, iv, opts.warn);
    const ct = B.decodeStd(typeof text === 'string' ? text.trim() : text, 'ciphertext');
    try {
      return cipher.decryptCbc(k, v, ct, opts.padding || 'pkcs7');
    } catch (e) {
      if (!(e instanceof E.PaddingError)) throw e;
      throw new E.PaddingError(`${e.message}: wrong key or IV, or another padding (crypto-js would not notice:`
        + ' its unpadding checks nothing)');
    }
  }

  function espKey(key) {
    const k = B.parseKeyText(key, 'key');
    if (k.length !== 16) throw new E.KeyFormatError(`key is ${k.length} bytes; the ESP8266 pattern uses AES-128 (16 bytes)`);
    return k;
  }

  /**
   * The ESP8266 blog message. ivForm 'raw' (device -> node: iv = b64(iv)) or 'hex' (node -> device:
   * iv = b64(hex(iv))). Returns the JSON text {"iv":...,"data":...} as JSON.stringify writes it.
   */
  function sealEsp8266(message, key, opts) {
    opts = opts || {};
    const k = espKey(key);
    const iv = opts.iv === undefined || opts.iv === null ? S.randomBytes(16) : B.parseKeyText(opts.iv, 'IV');
    if (iv.length !== 16) throw new E.KeyFormatError(`IV is ${iv.length} bytes; must be 16`);
    const inner = S.utf8Encode(B.encodeStd(S.asBytes(message, 'message')));
    const data = B.encodeStd(cipher.encryptCbc(k, iv, inner, 'pkcs7'));
    const form = opts.ivForm || 'raw';
    if (form !== 'raw' && form !== 'hex') throw new E.MalformedError(`ivForm ${JSON.stringify(form)} is not 'raw' or 'hex'`);
    const ivText = form === 'raw' ? B.encodeStd(iv) : B.encodeStd(S.utf8Encode(S.hexEncode(iv)));
    return JSON.stringify({ iv: ivText, data });
  }

  /** Open either direction's message; returns {message, ivForm}. */
  function openEsp8266(text, key) {
    const k = espKey(key);
    let obj;
    try {
      obj = JSON.parse(typeof text === 'string' ? text : S.utf8Decode(text, 'message'));
    } catch (e) {
      if (e instanceof E.IotEnvelopeError) throw e;
      throw new E.MalformedError('ESP8266 message is not JSON');
    }
    if (!obj || typeof obj !== 'object' || typeof obj.iv !== 'string' || typeof obj.data !== 'string') {
      throw new E.MalformedError('ESP8266 message must be a JSON object with string members "iv" and "data"');
    }
    let iv = B.decodeStd(obj.iv, 'iv');
    let ivForm = 'raw';
    if (iv.length === 32 && /^[0-9a-fA-F]{32}$/.test(String.fromCharCode(...iv))) {
      iv = S.hexDecode(String.fromCharCode(...iv), 'iv');
      ivForm = 'hex';
    } else if (iv.length !== 16) {
      throw new E.MalformedError(`iv decodes to ${iv.length} bytes; expected 16 (or the 32-character hex form)`);
    }
    let inner;
    try {
      inner = cipher.decryptCbc(k, iv, B.decodeStd(obj.data, 'data'), 'pkcs7');
    } catch (e) {
      if (!(e instanceof E.PaddingError)) throw e;
      throw new E.PaddingError(`${e.message}: wrong key most likely (or a sender that drops the last byte: old Spaniakos AES)`);
    }
    let innerText;
    try {
      innerText = S.utf8Decode(inner, 'decrypted data');
    } catch (e) {
      throw new E.MalformedError('decrypted data is not base64 text (the ESP8266 pattern base64-encodes the message before encrypting)');
    }
    return { message: B.decodeStd(innerText, 'decrypted inner base64'), ivForm };
  }

  return {
    derivePassphraseKey, encryptPassphrase, decryptPassphrase, unpackSalted, encryptKey, decryptKey,
    sealEsp8266, openEsp8266,
  };
}

module.exports = { bind, parseKdf, hexPassphraseHint, KEY_SIZES };
