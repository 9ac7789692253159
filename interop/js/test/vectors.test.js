'use strict';
// Every vector file in vectors/ that JavaScript can check, with every installed crypto-js version.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { CHECKERS } = require('../verify/vectors');
const { generate } = require('../scripts/generate-vectors');
const { VECTORS, vectorFiles, backends, EXPECTED, iotenvelope } = require('./helpers');

const files = vectorFiles().map((p) => [p, JSON.parse(fs.readFileSync(p, 'utf8'))]);
const checkable = files.filter(([, d]) => CHECKERS[d.algorithm]);

test('the vector files JavaScript must check are present', () => {
  const names = checkable.map(([p]) => path.relative(VECTORS, p));
  for (const want of ['envelope_v1.json', 'envelope_v1_lean.json', 'wycheproof/aes_cbc_pkcs5_test.json', ...EXPECTED.map((v) => `cryptojs/cryptojs_${v}.json`)]) {
    assert.ok(names.includes(want), `${want} missing from ${names}`);
  }
});

test('the default instance runs on node:crypto under Node.js', () => {
  assert.equal(iotenvelope.backend, 'node:crypto');
  assert.equal(iotenvelope.nodeCryptoAvailable, true);
});

for (const [name, ie] of backends()) {
  for (const [file, data] of checkable) {
    test(`${name}: ${path.relative(VECTORS, file)}`, () => {
      const res = CHECKERS[data.algorithm](ie, data);
      assert.deepEqual(res.failures, []);
      assert.equal(res.failed, 0);
      assert.equal(res.passed, data.numberOfTests);
    });
  }
}

for (const version of EXPECTED) {
  test(`vectors/cryptojs/cryptojs_${version}.json is what crypto-js ${version} writes today (regenerated, seed 1)`, () => {
    const committed = JSON.parse(fs.readFileSync(path.join(VECTORS, 'cryptojs', `cryptojs_${version}.json`), 'utf8'));
    const fresh = JSON.parse(JSON.stringify(generate(version, 1)));
    assert.equal(committed.source.implementation, 'crypto-js');
    assert.equal(committed.source.version, version);
    assert.match(committed.source.node, /^v\d+\./);
    assert.deepEqual(fresh.testGroups, committed.testGroups);
  });
}
