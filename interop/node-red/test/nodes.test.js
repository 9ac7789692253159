'use strict';
// The three nodes in Node-RED's own runtime (node-red-node-test-helper loads them into node-red 4.1.8).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const helper = require('node-red-node-test-helper');
const ie = require('iotenvelope');

const keyringNode = require('../nodes/keyring');
const openNode = require('../nodes/open');
const sealNode = require('../nodes/seal');
const { StateStore } = require('../lib/state');

helper.init(require.resolve('node-red'));

const SECRET = '8f1c2a7d90b3e45f6a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778';
const OTHER = '00112233445566778899aabbccddeeff';
const KEYS = JSON.stringify({ 'sensor-01': SECRET, 'sensor-02': `b64:${Buffer.from(OTHER, 'hex').toString('base64')}` });

let userDir;

function flow(openProps, sealProps) {
  return [
    { id: 'k1', type: 'iotenvelope-keyring', name: 'fleet' },
    { id: 'o1', type: 'iotenvelope-open', keyring: 'k1', wires: [['ok'], ['bad']], ...openProps },
    { id: 's1', type: 'iotenvelope-seal', keyring: 'k1', wires: [['sealed']], ...sealProps },
    { id: 'c1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
    { id: 'sealed', type: 'helper' },
    { id: 'caught', type: 'helper' },
  ];
}

async function load(opts = {}) {
  await helper.load([keyringNode, openNode, sealNode], flow(opts.open, opts.seal),
    { k1: { keys: opts.keys === undefined ? KEYS : opts.keys } });
  const out = { ok: [], bad: [], sealed: [], caught: [] };
  for (const id of Object.keys(out)) helper.getNode(id).on('input', (msg) => out[id].push(msg));
  return out;
}

/** Send msg into node `id` and wait until the message is fully handled (done() called). */
function send(id, msg) {
  const n = helper.getNode(id);
  return new Promise((resolve) => {
    n.once('call:status', () => setImmediate(resolve));
    n.receive(msg);
  });
}

function sealUp(seq, plaintext, opts = {}) {
  return ie.seal(opts.secret || SECRET, plaintext, { device: opts.device || 'sensor-01', seq, format: opts.format, ts: opts.ts });
}

test.beforeEach(async () => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotenvelope-nr-'));
  helper.settings({ userDir });
  await new Promise((resolve) => { helper.startServer(resolve); });
});

test.afterEach(async () => {
  await helper.unload();
  await new Promise((resolve) => { helper.stopServer(resolve); });
  fs.rmSync(userDir, { recursive: true, force: true });
});

test('open: compact text, JSON text, Buffer, raw binary and parsed object all give the exact plaintext', async () => {
  const out = await load();
  const reading = '{"co2": 1223, "note": "caf\u00e9 \u2615"}';
  const compact = sealUp(1, reading);
  const json = sealUp(2, reading, { format: 'json' });
  const buf = Buffer.from(sealUp(3, reading));
  const raw = Buffer.from(sealUp(4, reading), 'base64url');
  const obj = JSON.parse(sealUp(5, reading, { format: 'json' }));
  for (const payload of [compact, json, buf, raw, obj]) await send('o1', { payload });
  assert.equal(out.bad.length, 0, JSON.stringify(out.bad.map((m) => m.error)));
  assert.deepEqual(out.ok.map((m) => m.payload), Array(5).fill(reading));
  assert.deepEqual(out.ok.map((m) => m.iotenvelope.seq), [1, 2, 3, 4, 5]);
  const { ts, ...rest } = out.ok[0].iotenvelope;
  assert.deepEqual(rest, { device: 'sensor-01', seq: 1, direction: 'up', type: 'data' });
  assert.ok(Math.abs(ts - Date.now() / 1000) < 60);
  // The b64: secret of the second device works too.
  await send('o1', { payload: sealUp(1, 'x', { device: 'sensor-02', secret: OTHER }) });
  assert.deepEqual([out.ok[5].payload, out.ok[5].iotenvelope.device], ['x', 'sensor-02']);
  const status = helper.getNode('o1').status.lastCall.args[0];
  assert.equal(status.fill, 'green');
  assert.match(status.text, /^sensor-02 #1 \d\d:\d\d:\d\d$/);
});

test('open: replays, forgeries and bad input leave on output 2 with the SPEC code and reach a Catch node', async () => {
  const out = await load();
  const good = sealUp(7, 'hello');
  await send('o1', { payload: good });
  const altered = JSON.parse(sealUp(8, 'x', { format: 'json' }));
  altered.seq = 9;
  const flipped = Buffer.from(sealUp(10, 'x'), 'base64url');
  flipped[flipped.length - 1] ^= 1;
  const now = Math.floor(Date.now() / 1000);
  const cases = [
    [good, 'replay-duplicate'],
    [sealUp(7, 'other text, same seq'), 'replay-duplicate'],
    [altered, 'auth'],
    [flipped, 'auth'],
    [sealUp(11, 'x', { secret: OTHER }), 'auth'],
    [sealUp(12, 'x', { device: 'sensor-99' }), 'unknown-device'],
    [ie.seal(SECRET, 'x', { device: 'sensor-01', seq: 13, direction: 'down' }), 'wrong-direction'],
    [sealUp(14, 'x', { ts: now - 86400 - 400 }), 'stale'],
    [sealUp(15, 'x', { ts: now + 400 }), 'future'],
    ['not an envelope', 'malformed'],
    [`${good}=`, 'malformed'],
    [42, 'malformed'],
    ['A'.repeat(65539), 'malformed'],
    [ie.resyncRequest(SECRET, { device: 'sensor-01' }).text, 'malformed'],
    [ie.seal(SECRET, Buffer.from([0xff, 0xfe]), { device: 'sensor-01', seq: 16 }), 'malformed'],
  ];
  for (const [payload] of cases) await send('o1', { payload });
  assert.equal(out.ok.length, 1);
  assert.deepEqual(out.bad.map((m) => m.error.code), cases.map((c) => c[1]));
  assert.deepEqual(out.caught.map((m) => m.error.code), cases.map((c) => c[1]));
  assert.ok(out.bad.every((m) => typeof m.error.message === 'string' && m.error.message.length > 0));
  assert.equal(out.bad[0].payload, good, 'msg.payload is left as it came in');
  assert.match(out.caught[0].error.message, /^DuplicateError: seq 7 was already accepted/);
  const status = helper.getNode('o1').status.lastCall.args[0];
  assert.equal(status.fill, 'red');
  assert.match(status.text, /^malformed sensor-01 \d\d:\d\d:\d\d$/);
  // Nothing refused above used up its number: 8..16 are all still accepted once.
  for (let seq = 8; seq <= 16; seq++) await send('o1', { payload: sealUp(seq, `r${seq}`) });
  assert.deepEqual(out.ok.map((m) => m.payload), ['hello', ...Array.from({ length: 9 }, (_, i) => `r${i + 8}`)]);
  // The window is 64 wide: 16 - 64 is far behind after seq 100.
  await send('o1', { payload: sealUp(100, 'jump') });
  await send('o1', { payload: sealUp(36, 'too old') });
  await send('o1', { payload: sealUp(37, 'inside') });
  assert.deepEqual(out.bad.slice(-1).map((m) => m.error.code), ['replay-too-old']);
  assert.deepEqual(out.ok.slice(-2).map((m) => m.payload), ['jump', 'inside']);
});

test('open: options (JSON plaintext, time required, freshness off, replay off, direction down)', async () => {
  let out = await load({ open: { json: true, requireTime: true } });
  await send('o1', { payload: sealUp(1, '{"co2": 800, "list": [1, 2]}') });
  await send('o1', { payload: sealUp(2, 'not json') });
  await send('o1', { payload: sealUp(3, '{}', { ts: 0 }) });
  assert.deepEqual(out.ok.map((m) => m.payload), [{ co2: 800, list: [1, 2] }]);
  assert.deepEqual(out.bad.map((m) => m.error.code), ['malformed', 'time-unknown']);
  assert.doesNotMatch(out.bad[0].error.message, /not json/);
  await helper.unload();

  out = await load({ open: { freshness: false, replay: false, direction: 'down' } });
  const old = ie.seal(SECRET, 'cmd', { device: 'sensor-01', seq: 5, ts: 1000, direction: 'down' });
  await send('o1', { payload: old });
  await send('o1', { payload: old });
  assert.deepEqual(out.ok.map((m) => [m.payload, m.iotenvelope.direction, m.iotenvelope.ts]), [['cmd', 'down', 1000], ['cmd', 'down', 1000]]);
  assert.deepEqual(fs.readdirSync(path.join(userDir, 'iotenvelope-state')).filter((f) => f.includes('-down.')), [],
    'replay off writes no state');
});

test('open: the window is on disk before output 1 fires, and a fresh process reads it', async () => {
  const out = await load();
  const o1 = helper.getNode('o1');
  const store = path.join(userDir, 'iotenvelope-state');
  let seenOnDisk = null;
  helper.getNode('ok').on('input', () => {
    // What another process would read at this moment (a new StateStore shares nothing with the node's).
    const fresh = new StateStore(store);
    const fp = fs.readdirSync(store)[0].split('-')[2].split('.')[0];
    seenOnDisk = fresh.top('sensor-01', 'up', fp);
  });
  await send('o1', { payload: sealUp(41, 'a') });
  assert.equal(out.ok.length, 1);
  assert.equal(seenOnDisk, 41);
  assert.ok(o1);
  const files = fs.readdirSync(store).sort();
  assert.equal(files.length, 1);
  assert.match(files[0], new RegExp(`^window-${Buffer.from('sensor-01').toString('hex')}-[0-9a-f]{16}-up\\.0$`));
  const text = fs.readFileSync(path.join(store, files[0]), 'utf8');
  assert.ok(!text.includes(SECRET) && !text.includes(SECRET.toUpperCase()));
  assert.equal(fs.statSync(path.join(store, files[0])).mode & 0o777, 0o600);
  await send('o1', { payload: sealUp(42, 'b') });
  assert.deepEqual(fs.readdirSync(store).sort(), [files[0], files[0].replace(/\.0$/, '.1')], 'the second write goes to the other slot');
});

test('open: a keyring that cannot be read refuses everything with bad-key and logs no secret', async () => {
  const bad = [
    `{"sensor-01": "${SECRET.slice(0, 30)}"}`,
    `{"sensor 01": "${SECRET}"}`,
    `{"sensor-01": "${SECRET}",}`,
    `["${SECRET}"]`,
    '',
  ];
  for (const keys of bad) {
    const out = await load({ keys });
    await send('o1', { payload: sealUp(1, 'x') });
    assert.deepEqual(out.bad.map((m) => m.error.code), ['bad-key']);
    const logged = JSON.stringify(helper.log().args) + JSON.stringify(out.bad[0].error) + JSON.stringify(out.caught[0].error);
    assert.ok(!logged.includes(SECRET.slice(0, 30)), `secret text in a log or error for keyring ${bad.indexOf(keys)}`);
    await helper.unload();
  }
});

test('seal: down envelopes with increasing seq that the device opens; the counter survives', async () => {
  const out = await load({ seal: { format: 'json' } });
  await send('s1', { device: 'sensor-01', payload: { interval: 60 } });
  await send('s1', { device: 'sensor-01', payload: 'reboot' });
  await send('s1', { device: 'sensor-02', payload: Buffer.from([1, 2, 3]) });
  await send('s1', { device: 'sensor-01', payload: 7 });
  assert.equal(out.sealed.length, 4);
  const opened = out.sealed.map((m) => ie.open(m.iotenvelope.device === 'sensor-01' ? SECRET : OTHER, m.payload, { direction: 'down' }));
  assert.deepEqual(opened.map((o) => [o.device, o.seq, Buffer.from(o.plaintext).toString('hex')]), [
    ['sensor-01', 0, Buffer.from('{"interval":60}').toString('hex')],
    ['sensor-01', 1, Buffer.from('reboot').toString('hex')],
    ['sensor-02', 0, '010203'],
    ['sensor-01', 2, Buffer.from('7').toString('hex')],
  ]);
  assert.ok(out.sealed.every((m) => m.payload.startsWith('{"v": 1, "dir": "down"')));
  assert.deepEqual(out.sealed[0].iotenvelope, { device: 'sensor-01', seq: 0, ts: opened[0].ts, direction: 'down', type: 'data' });
  // An unknown device, or none: no output, an error for Catch nodes, and no number spent.
  await send('s1', { device: 'sensor-99', payload: 'x' });
  await send('s1', { payload: 'x' });
  assert.equal(out.sealed.length, 4);
  assert.deepEqual(out.caught.map((m) => m.error.code), ['unknown-device', 'malformed']);
  // Too large for any envelope: refused before a number is spent; a JSON-form envelope just over the cap is
  // refused after sealing (its number is skipped, never reused).
  await send('s1', { device: 'sensor-01', payload: 'x'.repeat(49153) });
  await send('s1', { device: 'sensor-01', payload: 'x'.repeat(49100) });
  assert.equal(out.sealed.length, 4);
  assert.deepEqual(out.caught.map((m) => m.error.code), ['unknown-device', 'malformed', 'malformed', 'malformed']);
  await send('s1', { device: 'sensor-01', payload: 'next' });
  assert.equal(ie.open(SECRET, out.sealed[4].payload, { direction: 'down' }).seq, 4);
  // What a restarted process resumes at: the stored mark (K = 1: one past the last number used).
  const fresh = new StateStore(path.join(userDir, 'iotenvelope-state'));
  const fp = fs.readdirSync(fresh.dir).find((f) => f.startsWith(`down-${Buffer.from('sensor-01').toString('hex')}`)).split('-')[2].split('.')[0];
  assert.equal(fresh.nextDown(ie, 'sensor-01', fp, 1), 5);
});

test('seal: a configured device wins over msg.device; K = 5 writes the mark once per 5 numbers', async () => {
  const out = await load({ seal: { device: 'sensor-02', every: 5, time: 'unknown' } });
  const writes = [];
  const realWrite = fs.writeSync;
  fs.writeSync = function spy(fd, buf, ...rest) { writes.push(String(buf)); return realWrite.call(fs, fd, buf, ...rest); };
  try {
    for (let i = 0; i < 7; i++) await send('s1', { device: 'sensor-01', payload: `c${i}` });
  } finally {
    fs.writeSync = realWrite;
  }
  const opened = out.sealed.map((m) => ie.open(OTHER, m.payload, { direction: 'down', freshness: null }));
  assert.deepEqual(opened.map((o) => [o.device, o.seq, o.ts, o.text]), Array.from({ length: 7 }, (_, i) => ['sensor-02', i, 0, `c${i}`]));
  assert.deepEqual(writes.map((w) => JSON.parse(w.split(' ')[0]).value.mark), [5, 10]);
  const fresh = new StateStore(path.join(userDir, 'iotenvelope-state'));
  const fp = fs.readdirSync(fresh.dir)[0].split('-')[2].split('.')[0];
  assert.equal(fresh.nextDown(ie, 'sensor-02', fp, 5), 10, 'a restart skips 7..9 and reuses nothing');
});

test('seal: K < 1 is refused when the node starts', async () => {
  const out = await load({ seal: { every: 0 } });
  await send('s1', { device: 'sensor-01', payload: 'x' });
  assert.equal(out.sealed.length, 0);
  assert.deepEqual(out.caught.map((m) => m.error.code), ['bad-key']);
  assert.match(out.caught[0].error.message, /K must be a whole number >= 1/);
});

test('open: when the window cannot be written the envelope is dropped (store-failed), then accepted later', async () => {
  const out = await load();
  const env = sealUp(3, 'kept back');
  const realFsync = fs.fsyncSync;
  fs.fsyncSync = () => { throw Object.assign(new Error('ENOSPC: no space left on device, fsync'), { code: 'ENOSPC' }); };
  try {
    await send('o1', { payload: env });
  } finally {
    fs.fsyncSync = realFsync;
  }
  assert.deepEqual([out.ok.length, out.bad.length], [0, 0]);
  assert.deepEqual(out.caught.map((m) => [m.error.code, m.error.message]), [['store-failed', 'StoreError: replay window not written, envelope dropped: ENOSPC']]);
  await send('o1', { payload: env });
  assert.deepEqual(out.ok.map((m) => m.payload), ['kept back']);
});

test('two open nodes, and two keyrings with the same device and secret, share one window', async () => {
  const flowDef = [
    { id: 'k1', type: 'iotenvelope-keyring' },
    { id: 'k2', type: 'iotenvelope-keyring' },
    { id: 'o1', type: 'iotenvelope-open', keyring: 'k1', wires: [['ok'], ['bad']] },
    { id: 'o2', type: 'iotenvelope-open', keyring: 'k1', wires: [['ok'], ['bad']] },
    { id: 'o3', type: 'iotenvelope-open', keyring: 'k2', wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ];
  const k2 = JSON.stringify({ 'sensor-01': SECRET.toUpperCase() }); // the same secret, written differently
  await helper.load([keyringNode, openNode, sealNode], flowDef, { k1: { keys: KEYS }, k2: { keys: k2 } });
  const got = [];
  helper.getNode('ok').on('input', (m) => got.push(`ok ${m.iotenvelope.seq}`));
  helper.getNode('bad').on('input', (m) => got.push(m.error.code));
  const env = sealUp(20, 'once');
  for (const id of ['o1', 'o2', 'o3']) await send(id, { payload: env });
  await send('o3', { payload: sealUp(21, 'next') });
  await send('o1', { payload: sealUp(21, 'next') });
  assert.deepEqual(got, ['ok 20', 'replay-duplicate', 'replay-duplicate', 'ok 21', 'replay-duplicate']);
});
