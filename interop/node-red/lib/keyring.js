'use strict';
// The keyring credential: JSON text {"device-id": "<hex or b64: secret>", ...} -> Map device -> entry.
// Every message here describes the position of a problem, never the text: the credential holds secrets, and
// V8's own JSON.parse messages quote the input, so they are not passed on.

const crypto = require('crypto');

const MAX_DEVICE_LEN = 64;
const FINGERPRINT_INFO = 'iotenvelope node-red state v1';

/** null if `device` is a device id as SPEC.md §3 defines it, else the reason. */
function deviceProblem(device) {
  if (device.length < 1 || device.length > MAX_DEVICE_LEN) return `is ${device.length} characters (allowed 1..${MAX_DEVICE_LEN})`;
  for (let i = 0; i < device.length; i++) {
    const c = device.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) {
      return `has character ${i + 1} outside printable ASCII without space, '"' and '\\'`;
    }
  }
  return null;
}

/** A short, quoted, truncated rendering of untrusted text for messages. */
function quote(text, max = 32) {
  const s = String(text);
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}

/**
 * Parse the credential. Returns Map device -> {secret, fingerprint}; throws Error with a message that names the
 * device (ids are not secret) and the library's reason (which never contains key material).
 */
function parseKeyring(text, iotenvelope) {
  if (typeof text !== 'string' || text.trim() === '') throw new Error('no keys set (credential "keys" is empty)');
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new Error('the keys credential is not valid JSON; expected {"device-id": "<32 or 64 hex digits>", ...}');
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error('the keys credential must be a JSON object {"device-id": "<hex secret>", ...}');
  }
  const devices = new Map();
  for (const [device, secret] of Object.entries(obj)) {
    const problem = deviceProblem(device);
    if (problem) throw new Error(`device id ${quote(device)} ${problem}`);
    if (typeof secret !== 'string') throw new Error(`device ${quote(device)}: the secret must be a string (hex or "b64:...")`);
    let keys;
    try {
      keys = iotenvelope.deriveKeys(secret);
    } catch (e) {
      // Not the library's message: for base64 it quotes the offending character of the secret.
      throw new Error(`device ${quote(device)}: the secret (${secret.length} characters) is not 32 or 64 hex digits `
        + 'or "b64:" and the base64 of 16 or 32 bytes');
    }
    // Names this secret's state records: HMAC under the secret's K_mac (SPEC.md §2.2) over a label that starts
    // with 'i', never 0x01 like an envelope's mac_input, so it is never an envelope tag and reveals nothing.
    const fingerprint = crypto.createHmac('sha256', Buffer.from(keys.macKey)).update(FINGERPRINT_INFO).digest('hex').slice(0, 16);
    devices.set(device, Object.freeze({ secret, fingerprint }));
  }
  if (devices.size === 0) throw new Error('the keys credential lists no device');
  return devices;
}

module.exports = { parseKeyring, deviceProblem, quote };
