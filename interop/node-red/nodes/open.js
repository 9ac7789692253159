'use strict';
// iotenvelope-open: SPEC.md §6 for each incoming envelope. Output 1: the plaintext (msg.payload) and
// msg.iotenvelope = {device, seq, ts, direction, type, form}; output 2: msg.error = {code, message} with the
// SPEC.md §6.1 name. Rejections also go to node.error (Catch nodes get msg.error.code as well).
//
// Form: "detect" (the default) reads compact or JSON-form envelopes, which carry their device id; "lean" reads
// the lean form of SPEC.md §5.3 (LoRaWAN frames), whose device id is not on the wire and comes from a message
// property instead (msg.device unless configured otherwise).
//
// Order: decode (length caps first; for lean, the device property is checked before the frame is parsed) ->
// direction -> secret lookup -> tag in constant time -> decrypt + strict PKCS#7 (the library, §6 steps 1-5) ->
// type must be data -> freshness (§6 step 6) -> plaintext must be UTF-8 (and JSON if so configured; neither
// when the plaintext is output as a Buffer) -> the replay window, written and fsynced (§6 step 7) -> output 1.
// Whatever fails leaves the window as it was, so an envelope refused for its plaintext does not use up its
// sequence number. Lean and compact/JSON envelopes of one device share its window (SPEC.md §5.3).

const iotenvelope = require('iotenvelope');
const {
  toEnvelopeInput, toLeanInput, detectedForm, standardBase64Hint, leanTextBufferHint,
} = require('../lib/input');
const { deviceProblem } = require('../lib/keyring');

const DEFAULT_SKEW = 300;
const DEFAULT_MAX_AGE = 86400;
const DEFAULT_DEVICE_PROPERTY = 'device';

function intSetting(value, fallback, name) {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number of seconds >= 0, got ${JSON.stringify(String(value)).slice(0, 20)}`);
  return n;
}

function clock() {
  return new Date().toISOString().slice(11, 19);
}

/** The Error given to node.error: own `code` (Node-RED copies it to a Catch node's msg.error.code), no stack noise. */
function catchable(code, name, message) {
  const err = new Error(message);
  err.name = name;
  err.code = code;
  return err;
}

module.exports = function register(RED) {
  function OpenNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const keyring = RED.nodes.getNode(config.keyring);
    const direction = config.direction === 'down' ? 'down' : 'up';
    const parseJson = config.json === true || config.json === 'true';
    const asBuffer = config.buffer === true || config.buffer === 'true';
    const replay = !(config.replay === false || config.replay === 'false');
    const lean = config.form === 'lean';
    const deviceProperty = typeof config.deviceProperty === 'string' && config.deviceProperty.trim() !== ''
      ? config.deviceProperty.trim().replace(/^msg\./, '') : DEFAULT_DEVICE_PROPERTY;
    let freshness = null;
    let setupProblem = null;
    try {
      if (parseJson && asBuffer) throw new Error('choose one: parse the plaintext as JSON, or output it as a Buffer');
      if (lean) {
        const type = config.devicePropertyType || 'msg';
        if (type !== 'msg') throw new Error(`the device id must come from a msg property, not ${String(type).slice(0, 10)}`);
        try {
          RED.util.normalisePropertyExpression(deviceProperty);
        } catch (e) {
          throw new Error(`device property msg.${deviceProperty.slice(0, 24)} is not a property expression`);
        }
      }
      if (!(config.freshness === false || config.freshness === 'false')) {
        const maxAge = intSetting(config.maxAge, DEFAULT_MAX_AGE, 'max age');
        freshness = {
          skew: intSetting(config.skew, DEFAULT_SKEW, 'skew'),
          maxAge: maxAge === 0 ? null : maxAge,
          allowUnknownTime: !(config.requireTime === true || config.requireTime === 'true'),
        };
      }
    } catch (e) {
      setupProblem = e.message;
    }
    if (!keyring) setupProblem = 'no keyring configured';
    if (setupProblem) {
      node.status({ fill: 'red', shape: 'ring', text: setupProblem.slice(0, 40) });
      node.error(`not usable: ${setupProblem}`);
    } else if (keyring.problem) {
      node.status({ fill: 'red', shape: 'ring', text: 'keyring not usable' });
    } else {
      node.status({ fill: 'grey', shape: 'ring', text: `${keyring.deviceCount} device(s), waiting` });
    }

    /** The device id of a lean envelope, from the configured msg property; MalformedError if it is not one. */
    function leanDevice(msg) {
      let device;
      try {
        device = RED.util.getMessageProperty(msg, deviceProperty);
      } catch (e) {
        device = undefined; // a parent of the property is missing
      }
      const where = `msg.${deviceProperty}`;
      if (device === undefined || device === null || device === '') {
        throw new iotenvelope.MalformedError(`no device id in ${where}: a lean envelope does not carry it, so the flow must set it `
          + 'from the transport (e.g. The Things Stack\'s end_device_ids.device_id, ChirpStack\'s deviceInfo.devEui)');
      }
      if (typeof device !== 'string') {
        throw new iotenvelope.MalformedError(`${where} must be the device id as a string, got ${Array.isArray(device) ? 'an array' : typeof device}`);
      }
      const problem = deviceProblem(device);
      if (problem) throw new iotenvelope.MalformedError(`${where} is not a device id (SPEC.md §3): it ${problem}`);
      return device;
    }

    /** Decode msg.payload in the configured form: {env, form}. */
    function decodeEnvelope(msg) {
      if (!lean) {
        const input = toEnvelopeInput(msg.payload, iotenvelope);
        const form = detectedForm(input);
        return { env: iotenvelope.decode(input, form), form };
      }
      const { input, format } = toLeanInput(msg.payload, iotenvelope); // length caps first
      const device = leanDevice(msg);
      try {
        return { env: iotenvelope.decode(input, format, { device }), form: 'lean' };
      } catch (e) {
        if (e instanceof iotenvelope.MalformedError) { // unsupported-version included
          e.message += format === 'lean' ? standardBase64Hint(input) : leanTextBufferHint(input);
        }
        throw e;
      }
    }

    function reject(msg, send, done, e, device) {
      const who = device ? ` ${device}` : '';
      msg.error = { code: e.code, message: e.message };
      node.status({ fill: 'red', shape: 'ring', text: `${e.code}${who} ${clock()}` });
      send([null, msg]);
      done(catchable(e.code, e.name, e.message));
    }

    node.on('input', (msg, send, done) => {
      let opened = null;
      let payload;
      let form;
      try {
        if (setupProblem) throw new iotenvelope.KeyFormatError(`the open node is not usable: ${setupProblem}`);
        const decoded = decodeEnvelope(msg);
        const { env } = decoded;
        form = decoded.form;
        opened = iotenvelope.openEnvelope((device) => keyring.secret(device), env, { direction, freshness: null });
        if (opened.type !== 'data') {
          throw new iotenvelope.MalformedError(`expected a data envelope, got ${opened.type} (this node does not answer resync requests)`);
        }
        if (freshness) iotenvelope.checkFreshness(opened.ts, Math.floor(Date.now() / 1000), freshness);
        if (asBuffer) {
          payload = Buffer.from(opened.plaintext); // a copy of just these bytes
        } else {
          payload = opened.text; // MalformedError when the authentic plaintext is not UTF-8
        }
        if (parseJson) {
          try {
            payload = JSON.parse(payload);
          } catch (e) {
            // V8's message would quote the plaintext
            throw new iotenvelope.MalformedError('the plaintext is not JSON (the node is set to parse it)');
          }
        }
      } catch (e) {
        if (e instanceof iotenvelope.IotEnvelopeError) {
          reject(msg, send, done, e, opened && opened.device);
          return;
        }
        node.status({ fill: 'red', shape: 'dot', text: `internal error ${clock()}` });
        done(e);
        return;
      }
      if (replay) {
        try {
          keyring.accept(opened.device, direction, opened.seq); // on disk (fsynced) before anything is sent
        } catch (e) {
          if (e instanceof iotenvelope.IotEnvelopeError) {
            reject(msg, send, done, e, opened.device);
          } else {
            // The state could not be written: the envelope is neither accepted nor refused by the protocol.
            node.status({ fill: 'red', shape: 'dot', text: `replay store failed ${clock()}` });
            done(catchable('store-failed', 'StoreError', `replay window not written, envelope dropped: ${e.code || e.message}`));
          }
          return;
        }
      }
      msg.payload = payload;
      msg.iotenvelope = {
        device: opened.device, seq: opened.seq, ts: opened.ts, direction: opened.direction, type: opened.type, form,
      };
      node.status({ fill: 'green', shape: 'dot', text: `${opened.device} #${opened.seq} ${clock()}` });
      send([msg, null]);
      done();
    });
  }

  RED.nodes.registerType('iotenvelope-open', OpenNode);
};
