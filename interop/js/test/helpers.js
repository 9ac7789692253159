'use strict';
// Shared test helpers: the repository's vectors/ and every installed crypto-js version.
const fs = require('fs');
const path = require('path');
const iotenvelope = require('..');
const { installedVersions } = require('../bridge');

const VECTORS = path.join(__dirname, '..', '..', '..', 'vectors');
const EXPECTED = ['3.3.0', '4.1.1', '4.2.0'];

function vectorFiles(dir = VECTORS) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...vectorFiles(p));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}

function libs() {
  const versions = installedVersions();
  for (const v of EXPECTED) {
    if (!versions.includes(v)) throw new Error(`crypto-js ${v} is not installed: run .ci/install (or npm ci in interop/js)`);
  }
  // eslint-disable-next-line global-require, import/no-dynamic-require
  return versions.map((v) => [v, iotenvelope.create(require(`crypto-js-${v}`), v)]);
}

/** [label, instance] for every crypto backend: node:crypto, then each installed crypto-js version. */
function backends() {
  const node = iotenvelope.create(iotenvelope.CryptoJS, iotenvelope.cryptoJsVersion, { backend: 'node:crypto' });
  return [['node:crypto', node], ...libs().map(([v, ie]) => [`crypto-js ${v}`, ie])];
}

module.exports = { iotenvelope, VECTORS, vectorFiles, libs, backends, EXPECTED };
