'use strict';
// What the open node accepts in msg.payload, turned into what iotenvelope.decode() reads, with the length caps
// of SPEC.md §5 checked before anything is parsed:
//   string ............ compact or JSON-form text (at most 65536 bytes plus one trailing line break)
//   Buffer ............ the same text as bytes (MQTT, http-in without body parsing); a Buffer whose first byte is
//                       0x01 (the version byte: never the first byte of envelope text) is the raw binary compact
//                       form, at most 49152 bytes
//   plain object ...... the JSON form already parsed upstream (JSON node, http-in, MQTT "parsed JSON"); it is
//                       written back as JSON text, so what JSON.parse already dropped (a duplicated member, the
//                       difference between 1 and 1.0) can no longer be refused: pass the text where you can

const MAX_TEXT = 65536;
const MAX_RAW = 49152;
const SLACK = 2; // one trailing "\r\n" is not counted; the library decides about exactly those two bytes

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function toEnvelopeInput(payload, errors) {
  if (typeof payload === 'string') {
    if (payload.length > MAX_TEXT + SLACK && Buffer.byteLength(payload, 'utf8') > MAX_TEXT + SLACK) {
      throw new errors.MalformedError(`envelope text is longer than ${MAX_TEXT} bytes`);
    }
    return payload;
  }
  if (payload instanceof Uint8Array) {
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (bytes.length > 0 && bytes[0] === 0x01) {
      if (bytes.length > MAX_RAW) throw new errors.MalformedError(`raw envelope is longer than ${MAX_RAW} bytes`);
      return bytes.toString('base64url');
    }
    if (bytes.length > MAX_TEXT + SLACK) throw new errors.MalformedError(`envelope text is longer than ${MAX_TEXT} bytes`);
    return bytes;
  }
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    let text;
    try {
      text = JSON.stringify(payload);
    } catch (e) {
      throw new errors.MalformedError('msg.payload is an object that cannot be written as JSON');
    }
    if (text.length > MAX_TEXT && Buffer.byteLength(text, 'utf8') > MAX_TEXT) {
      throw new errors.MalformedError(`envelope text is longer than ${MAX_TEXT} bytes`);
    }
    return text;
  }
  throw new errors.MalformedError(`msg.payload must be envelope text, a Buffer or a JSON-form object, got ${typeName(payload)}`);
}

/** Plaintext bytes for the seal node: text as UTF-8, a Buffer as is, anything else as JSON text. */
function toPlaintext(payload, errors) {
  if (typeof payload === 'string') return payload;
  if (payload instanceof Uint8Array) return payload;
  if (payload === undefined || payload === null) throw new errors.MalformedError('msg.payload is empty: nothing to seal');
  let text;
  try {
    text = JSON.stringify(payload);
  } catch (e) {
    text = undefined;
  }
  if (typeof text !== 'string') throw new errors.MalformedError(`msg.payload (${typeName(payload)}) cannot be written as JSON`);
  return text;
}

module.exports = { toEnvelopeInput, toPlaintext, MAX_TEXT, MAX_RAW };
