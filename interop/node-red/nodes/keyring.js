'use strict';
// iotenvelope-keyring: a config node holding the device secrets (credential "keys", stored by Node-RED in the
// encrypted flows_cred.json, never in flows.json) and the durable replay windows and down counters of those
// devices (files in <userDir>/iotenvelope-state, see lib/state.js).

const path = require('path');
const iotenvelope = require('iotenvelope');
const { parseKeyring } = require('../lib/keyring');
const { StateStore } = require('../lib/state');

const STATE_DIR = 'iotenvelope-state';

module.exports = function register(RED) {
  function KeyringNode(config) {
    RED.nodes.createNode(this, config);
    this.name = config.name;
    let devices = new Map();
    let problem = null;
    try {
      devices = parseKeyring(this.credentials && this.credentials.keys, iotenvelope);
    } catch (e) {
      problem = e.message;
      this.error(`keyring not usable: ${problem}`);
    }
    const userDir = (RED.settings && RED.settings.userDir) || process.cwd();
    const store = StateStore.at(path.join(userDir, STATE_DIR));

    function entry(device) {
      if (problem) throw new iotenvelope.KeyFormatError(`keyring not usable: ${problem}`);
      const e = typeof device === 'string' ? devices.get(device) : undefined;
      if (!e) throw new iotenvelope.UnknownDeviceError(`no secret known for device ${JSON.stringify(String(device)).slice(0, 70)}`);
      return e;
    }

    this.problem = problem;
    this.deviceCount = devices.size;
    this.stateDir = store.dir;
    /** The secret text of `device`; throws UnknownDeviceError (or KeyFormatError for an unusable keyring). */
    this.secret = (device) => entry(device).secret;
    /** Record an accepted up/down seq durably; throws DuplicateError/TooOldError. */
    this.accept = (device, direction, seq) => store.accept(iotenvelope, device, direction, entry(device).fingerprint, seq);
    /** The next down seq of `device`, its mark on disk before it is returned (SPEC.md §7, K = every). */
    this.nextDown = (device, every) => store.nextDown(iotenvelope, device, entry(device).fingerprint, every);
    this.top = (device, direction) => store.top(device, direction, entry(device).fingerprint);
  }

  RED.nodes.registerType('iotenvelope-keyring', KeyringNode, {
    credentials: { keys: { type: 'password' } },
  });
};
