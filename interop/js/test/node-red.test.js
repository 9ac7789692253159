'use strict';
// Runs the example function-node code the way Node-RED's function node does: the body is a function of msg,
// env, context and the `iotenvelope` module variable that the Setup tab (libs) provides.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { iotenvelope: ie } = require('./helpers');

const DIR = path.join(__dirname, '..', 'examples', 'node-red');
const KEYS = { 'sensor-01': '000102030405060708090a0b0c0d0e0f' };

function functionNode(file) {
  // eslint-disable-next-line no-new-func
  const body = new Function('msg', 'env', 'context', 'iotenvelope', fs.readFileSync(path.join(DIR, file), 'utf8'));
  const store = new Map();
  const context = { get: (k) => store.get(k), set: (k, v) => store.set(k, JSON.parse(JSON.stringify(v))) };
  const env = { get: (k) => (k === 'IOTENVELOPE_KEYS' ? JSON.stringify(KEYS) : undefined) };
  return (msg) => body(msg, env, context, ie);
}

test('flow.json carries exactly the example function bodies', () => {
  const flow = JSON.parse(fs.readFileSync(path.join(DIR, 'flow.json'), 'utf8'));
  const funcs = Object.fromEntries(flow.filter((n) => n.type === 'function').map((n) => [n.name, n.func]));
  assert.equal(funcs['open iotenvelope'], fs.readFileSync(path.join(DIR, 'open-envelope.js'), 'utf8'));
  assert.equal(funcs['seal command'], fs.readFileSync(path.join(DIR, 'seal-command.js'), 'utf8'));
});

test('open-envelope: accepts a reading once (exact text), rejects its replay and a forgery on output 2', () => {
  const open = functionNode('open-envelope.js');
  const reading = '{"co2": 1223, "note": "caf\u00e9"}';
  const text = ie.seal(KEYS['sensor-01'], reading, { device: 'sensor-01', seq: 1, format: 'json' });
  const [ok, bad] = open({ payload: Buffer.from(text) }); // http-in with "Do not parse request body"
  assert.equal(bad, null);
  assert.equal(ok.payload, reading);
  assert.deepEqual([ok.device, ok.seq], ['sensor-01', 1]);
  const [, replayed] = open({ payload: text });
  assert.equal(replayed.payload, 'replay-duplicate');
  assert.equal(replayed.error.code, 'replay-duplicate');
  const forged = JSON.parse(text);
  forged.seq = 2;
  const [, rejected] = open({ payload: forged }); // an http-in that parses JSON bodies hands over an object
  assert.equal(rejected.payload, 'auth');
});

test('open-envelope: an authentic non-UTF-8 plaintext is malformed and does not use up its seq', () => {
  const open = functionNode('open-envelope.js');
  const key = KEYS['sensor-01'];
  const binary = ie.seal(key, Buffer.from([0xff, 0xfe]), { device: 'sensor-01', seq: 5 });
  const [ok, bad] = open({ payload: binary });
  assert.equal(ok, null);
  assert.equal(bad.payload, 'malformed');
  const [again] = open({ payload: ie.seal(key, 'x', { device: 'sensor-01', seq: 5 }) });
  assert.equal(again.payload, 'x');
});

test('seal-command: down envelopes with increasing seq that the device side opens', () => {
  const seal = functionNode('seal-command.js');
  const first = seal({ device: 'sensor-01', payload: { interval: 60 } });
  const second = seal({ device: 'sensor-01', payload: { interval: 30 } });
  const a = ie.open(KEYS['sensor-01'], first.payload, { direction: 'down' });
  const b = ie.open(KEYS['sensor-01'], second.payload, { direction: 'down' });
  assert.equal(a.text, '{"interval":60}');
  assert.deepEqual([a.seq, b.seq], [1, 2]);
});
