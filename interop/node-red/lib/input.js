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
//
// The lean form (SPEC.md §5.3, open node set to "lean") is read by toLeanInput instead:
//   Buffer/Uint8Array . always the raw lean frame (a LoRaWAN frm_payload after base64 decoding), at most 49152
//                       bytes, never stripped. The first byte of a raw lean frame (0x40..0x5f) is also an ASCII
//                       letter, so bytes are never guessed to be text here.
//   string ............ lean base64url text, as the CLI and the libraries print it (at most 65536 bytes plus
//                       one trailing line break)

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

/**
 * The form the library will read `input` (what toEnvelopeInput returned) as, by the library's own rule: JSON when
 * the first character after white space is '{', compact otherwise. Passed to decode() explicitly, so the form
 * the node reports is the one that was parsed.
 */
function detectedForm(input) {
  if (typeof input === 'string') return /^[ \t\r\n]*\{/.test(input) ? 'json' : 'compact';
  let i = 0;
  while (i < input.length && (input[i] === 0x20 || input[i] === 0x09 || input[i] === 0x0d || input[i] === 0x0a)) i++;
  return i < input.length && input[i] === 0x7b ? 'json' : 'compact';
}

/** What the open node in lean mode gives decode(): {input, format} with the §5 length caps checked first. */
function toLeanInput(payload, errors) {
  if (typeof payload === 'string') {
    if (payload.length > MAX_TEXT + SLACK && Buffer.byteLength(payload, 'utf8') > MAX_TEXT + SLACK) {
      throw new errors.MalformedError(`lean envelope text is longer than ${MAX_TEXT} bytes`);
    }
    return { input: payload, format: 'lean' };
  }
  if (payload instanceof Uint8Array) {
    if (payload.byteLength > MAX_RAW) throw new errors.MalformedError(`raw lean envelope is longer than ${MAX_RAW} bytes`);
    return { input: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), format: 'lean-raw' };
  }
  let hint = '';
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    hint = payload.uplink_message || payload.deviceInfo
      ? ' (this looks like a whole network-server uplink: take the frame out of it, e.g. '
        + "msg.payload = Buffer.from(msg.payload.uplink_message.frm_payload, 'base64'))"
      : '';
  }
  throw new errors.MalformedError(`msg.payload must be the lean frame as a Buffer or its base64url text, got ${typeName(payload)}${hint}`);
}

/**
 * A short addition to a lean text decoding error when the text looks like standard base64 (what The Things
 * Stack and ChirpStack put in their JSON), which the lean text form is not.
 */
function standardBase64Hint(text) {
  return typeof text === 'string' && /[+/=]/.test(text)
    ? "; this looks like standard base64 (a network server's frm_payload/data): send Buffer.from(text, 'base64') instead"
    : '';
}

/**
 * A short addition to the error of a Buffer refused as a raw lean frame when its bytes are base64url text (an
 * http-in node set to not parse the body, or an MQTT node set to output a Buffer, hands text over as a Buffer).
 * A raw frame made only of those 64 byte values is as likely as 2^-56 at its shortest.
 */
function leanTextBufferHint(bytes) {
  let n = bytes.length;
  if (n && bytes[n - 1] === 0x0a) { n--; if (n && bytes[n - 1] === 0x0d) n--; }
  if (n === 0) return '';
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    const b64u = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
    if (!b64u) return '';
  }
  return '; this Buffer holds base64url text, and a Buffer is read as the raw frame: pass the text as a string '
    + '(msg.payload = msg.payload.toString())';
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

module.exports = {
  toEnvelopeInput, toLeanInput, detectedForm, standardBase64Hint, leanTextBufferHint, toPlaintext, MAX_TEXT, MAX_RAW,
};
