'use strict';
// iotenvelope for Node.js, Node-RED and browsers.
//
//   const iotenvelope = require('iotenvelope');     // node:crypto where it exists, crypto-js where it does not
//   const token = iotenvelope.seal(secretHex, '{"co2":1223}', { device: 'sensor-01', seq: 42 });
//   const msg = iotenvelope.open({ 'sensor-01': secretHex }, token);   // MAC checked first, then decrypt
//   iotenvelope.backend                              // 'node:crypto' or 'crypto-js'
//
//   const cj = iotenvelope.create(require('crypto-js-3.3.0'));   // the same API, every byte on that crypto-js
//   const nc = iotenvelope.create(require('crypto-js'), null, { backend: 'node:crypto' });
//
// Both backends produce the same bytes (every vector file is checked on each). The legacy crypto-js/OpenSSL
// conventions (`legacy`) always need crypto-js: they reproduce its behaviour, quirks included.

const errors = require('./lib/errors');
const S = require('./lib/bytes');
const backends = require('./lib/backend');
const cipherMod = require('./lib/cipher');
const envelopeMod = require('./lib/envelope');
const legacyMod = require('./lib/legacy');
const resyncMod = require('./lib/resync');
const { ReplayWindow } = require('./lib/replay');

let BootSafeCounter; // Node.js only (it needs fs): undefined in a browser bundle
try {
  // eslint-disable-next-line global-require
  ({ BootSafeCounter } = require('./lib/counter'));
} catch (e) {
  BootSafeCounter = undefined;
}

const NODE_CRYPTO = backends.loadNodeCrypto();
const BACKENDS = ['node:crypto', 'crypto-js'];

/**
 * The API bound to one crypto-js module object. opts.backend: 'crypto-js' (the default when create() is called
 * directly, so `create(require('crypto-js-3.3.0'))` runs on that crypto-js as it always did) or 'node:crypto'
 * (throws where node:crypto does not exist).
 */
function create(CryptoJS, version, opts) {
  if (!CryptoJS || !CryptoJS.AES || !CryptoJS.HmacSHA256) throw new TypeError('create() needs the crypto-js module object');
  const backend = (opts && opts.backend) || 'crypto-js';
  if (!BACKENDS.includes(backend)) throw new TypeError(`backend must be one of ${BACKENDS.join(', ')}`);
  if (backend === 'node:crypto' && !NODE_CRYPTO) throw new TypeError('node:crypto is not available here');
  const B = S.bind(CryptoJS);
  const cjCipher = cipherMod.bind(CryptoJS, B);
  const cipher = backend === 'node:crypto' ? cipherMod.bindNode(NODE_CRYPTO, cjCipher) : cjCipher;
  const prim = backend === 'node:crypto' ? backends.nodeBackend(NODE_CRYPTO) : backends.cryptoJsBackend(CryptoJS, B, version);
  const env = envelopeMod.bind(prim, B);
  const legacy = legacyMod.bind(CryptoJS, B, cipher);
  const resync = resyncMod.bind(env);
  const { quote, ...errorClasses } = errors;
  return Object.freeze({
    ...errorClasses,
    ...env,
    ...resync,
    legacy: Object.freeze({ ...legacy, parseKdf: legacyMod.parseKdf, hexPassphraseHint: legacyMod.hexPassphraseHint }),
    cipher: Object.freeze({ ...cipher, unpad: cipherMod.unpad, PADDINGS: cipherMod.PADDINGS }),
    bytes: Object.freeze({ ...B, hexEncode: S.hexEncode, hexDecode: S.hexDecode, utf8Encode: S.utf8Encode, utf8Decode: S.utf8Decode }),
    ReplayWindow,
    ResyncRateLimit: resyncMod.ResyncRateLimit,
    BootSafeCounter,
    MAX_TEXT: envelopeMod.MAX_TEXT,
    MAX_RAW: envelopeMod.MAX_RAW,
    CryptoJS,
    cryptoJsVersion: version || null,
    backend,
    backendVersion: prim.version,
    nodeCryptoAvailable: Boolean(NODE_CRYPTO),
    create,
  });
}

// eslint-disable-next-line global-require
const CRYPTO_JS_VERSION = require('crypto-js/package.json').version;
// eslint-disable-next-line global-require
module.exports = create(require('crypto-js'), CRYPTO_JS_VERSION, { backend: NODE_CRYPTO ? 'node:crypto' : 'crypto-js' });
