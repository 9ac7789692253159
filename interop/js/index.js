'use strict';
// iotenvelope for Node.js and Node-RED, on crypto-js.
//
//   const iotenvelope = require('iotenvelope');            // bound to the crypto-js this package depends on
//   const token = iotenvelope.seal(secretHex, '{"co2":1223}', { device: 'sensor-01', seq: 42 });
//   const msg = iotenvelope.open({ 'sensor-01': secretHex }, token);   // MAC checked first, then decrypt
//
//   const other = iotenvelope.create(require('crypto-js-3.3.0'));     // the same API on another crypto-js

const errors = require('./lib/errors');
const S = require('./lib/bytes');
const cipherMod = require('./lib/cipher');
const envelopeMod = require('./lib/envelope');
const legacyMod = require('./lib/legacy');
const resyncMod = require('./lib/resync');
const { ReplayWindow } = require('./lib/replay');

function create(CryptoJS, version) {
  if (!CryptoJS || !CryptoJS.AES || !CryptoJS.HmacSHA256) throw new TypeError('create() needs the crypto-js module object');
  const B = S.bind(CryptoJS);
  const cipher = cipherMod.bind(CryptoJS, B);
  const env = envelopeMod.bind(CryptoJS, B, cipher);
  const legacy = legacyMod.bind(CryptoJS, B, cipher);
  const resync = resyncMod.bind(env);
  return Object.freeze({
    ...errors,
    ...env,
    ...resync,
    legacy: Object.freeze({ ...legacy, parseKdf: legacyMod.parseKdf, hexPassphraseHint: legacyMod.hexPassphraseHint }),
    cipher: Object.freeze({ ...cipher, unpad: cipherMod.unpad, PADDINGS: cipherMod.PADDINGS }),
    bytes: Object.freeze({ ...B, hexEncode: S.hexEncode, hexDecode: S.hexDecode, utf8Encode: S.utf8Encode, utf8Decode: S.utf8Decode }),
    ReplayWindow,
    CryptoJS,
    cryptoJsVersion: version || null,
    create,
  });
}

// eslint-disable-next-line global-require
module.exports = create(require('crypto-js'), require('crypto-js/package.json').version);
