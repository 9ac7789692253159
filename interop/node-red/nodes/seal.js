'use strict';
// iotenvelope-seal: seal msg.payload as a down/data envelope for one device, with the next down sequence number
// of that device from the keyring's durable counter (SPEC.md §7: its high-water mark is fsynced before the
// number is used, so no number is sealed twice, whatever happens to the process).
//
// Forms: compact (base64url text, the default), JSON text, or lean (SPEC.md §5.3: the small binary form for
// LoRaWAN downlinks, which leaves the device id off the wire), output as its base64url text or, with output
// "buffer", as the raw frame in a Buffer (what a network server's downlink API wants, base64-encoded).

const iotenvelope = require('iotenvelope');
const { toPlaintext, MAX_TEXT, MAX_RAW } = require('../lib/input');

function clock() {
  return new Date().toISOString().slice(11, 19);
}

module.exports = function register(RED) {
  function SealNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const keyring = RED.nodes.getNode(config.keyring);
    const fixedDevice = typeof config.device === 'string' && config.device.trim() !== '' ? config.device.trim() : null;
    const format = config.format === 'json' || config.format === 'lean' ? config.format : 'compact';
    const rawLean = format === 'lean' && config.output === 'buffer';
    const unknownTime = config.time === 'unknown';
    const every = config.every === undefined || config.every === '' ? 1 : Number(config.every);
    let setupProblem = null;
    if (!keyring) setupProblem = 'no keyring configured';
    else if (!Number.isSafeInteger(every) || every < 1) setupProblem = 'persist every K: K must be a whole number >= 1';
    if (setupProblem) {
      node.status({ fill: 'red', shape: 'ring', text: setupProblem.slice(0, 40) });
      node.error(`not usable: ${setupProblem}`);
    } else if (keyring.problem) {
      node.status({ fill: 'red', shape: 'ring', text: 'keyring not usable' });
    }

    node.on('input', (msg, send, done) => {
      let device;
      try {
        if (setupProblem) throw new iotenvelope.KeyFormatError(`the seal node is not usable: ${setupProblem}`);
        device = fixedDevice || msg.device;
        if (typeof device !== 'string' || device === '') {
          throw new iotenvelope.MalformedError('no device: set one in the node or send msg.device');
        }
        const secret = keyring.secret(device); // UnknownDeviceError before a sequence number is spent
        const plaintext = toPlaintext(msg.payload, iotenvelope);
        const size = typeof plaintext === 'string' ? Buffer.byteLength(plaintext, 'utf8') : plaintext.length;
        if (size > MAX_RAW) { // its envelope is over the text cap in either form: refused before a number is spent
          throw new iotenvelope.MalformedError(`the plaintext is ${size} bytes; an envelope holds at most about ${MAX_RAW - 80}`);
        }
        const ts = unknownTime ? 0 : Math.floor(Date.now() / 1000);
        let seq;
        try {
          seq = keyring.nextDown(device, every);
        } catch (e) {
          if (e instanceof iotenvelope.IotEnvelopeError) throw e;
          e.storeFailed = true;
          throw e;
        }
        const fields = { device, seq, ts, direction: 'down', type: 'data' };
        let out;
        if (rawLean) {
          const raw = iotenvelope.sealLean(secret, plaintext, fields);
          out = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
          if (out.length > MAX_RAW) {
            throw new iotenvelope.MalformedError(`the envelope would be ${out.length} bytes, more than ${MAX_RAW} (SPEC.md §5)`);
          }
        } else {
          out = iotenvelope.seal(secret, plaintext, { ...fields, format });
          if (out.length > MAX_TEXT) {
            throw new iotenvelope.MalformedError(`the envelope would be ${out.length} bytes, more than ${MAX_TEXT} (SPEC.md §5)`);
          }
        }
        msg.payload = out;
        msg.iotenvelope = { ...fields, form: format };
        node.status({ fill: 'green', shape: 'dot', text: `${device} #${seq} ${clock()}` });
        send(msg);
        done();
      } catch (e) {
        if (!(e instanceof iotenvelope.IotEnvelopeError) && !e.storeFailed) {
          node.status({ fill: 'red', shape: 'dot', text: `internal error ${clock()}` });
          done(e);
          return;
        }
        const code = e.storeFailed ? 'store-failed' : e.code;
        const message = e.storeFailed ? `down counter not written, nothing sealed: ${e.code || e.message}` : e.message;
        msg.error = { code, message };
        node.status({ fill: 'red', shape: 'ring', text: `${code} ${clock()}` });
        const err = new Error(message);
        err.name = e.storeFailed ? 'StoreError' : e.name;
        err.code = code;
        done(err);
      }
    });
  }

  RED.nodes.registerType('iotenvelope-seal', SealNode);
};
