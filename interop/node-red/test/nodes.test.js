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
  assert.deepEqual(out.ok.map((m) => m.iotenvelope.form), ['compact', 'json', 'compact', 'compact', 'json']);
  const { ts, ...rest } = out.ok[0].iotenvelope;
  assert.deepEqual(rest, { device: 'sensor-01', seq: 1, direction: 'up', type: 'data', form: 'compact' });
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
  assert.deepEqual(out.sealed[0].iotenvelope, { device: 'sensor-01', seq: 0, ts: opened[0].ts, direction: 'down', type: 'data', form: 'json' });
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

// ---- the lean form (SPEC.md §5.3): the device id comes from a message property, not from the frame -----------

function leanUp(seq, plaintext, opts = {}) {
  const fields = { device: opts.device || 'sensor-01', seq, ts: opts.ts, direction: opts.direction || 'up' };
  return opts.text ? ie.seal(opts.secret || SECRET, plaintext, { ...fields, format: 'lean' })
    : Buffer.from(ie.sealLean(opts.secret || SECRET, plaintext, fields));
}

function stateFiles() {
  const dir = path.join(userDir, 'iotenvelope-state');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

test('open (lean): a raw frame, a Uint8Array and base64url text give the exact plaintext; the device comes from msg.device', async () => {
  const out = await load({ open: { form: 'lean' } });
  const reading = '{"t": 21.5, "note": "caf\u00e9"}';
  const frame = leanUp(1, reading);
  assert.equal(frame[0], 0x54, 'up/data with ts');
  assert.equal(frame.length, 13 + 4 + 32);
  const text = leanUp(2, reading, { text: true });
  const u8 = new Uint8Array(leanUp(3, reading));
  const withLf = `${leanUp(4, reading, { text: true })}\n`;
  const untimed = leanUp(5, reading, { ts: 0 });
  assert.equal(untimed[0], 0x44, 'up/data without ts');
  for (const payload of [frame, text, u8, withLf, untimed]) await send('o1', { payload, device: 'sensor-01' });
  assert.equal(out.bad.length, 0, JSON.stringify(out.bad.map((m) => m.error)));
  assert.deepEqual(out.ok.map((m) => m.payload), Array(5).fill(reading));
  const { ts, ...rest } = out.ok[0].iotenvelope;
  assert.deepEqual(rest, { device: 'sensor-01', seq: 1, direction: 'up', type: 'data', form: 'lean' });
  assert.ok(Math.abs(ts - Date.now() / 1000) < 60);
  assert.deepEqual(out.ok.map((m) => [m.iotenvelope.seq, m.iotenvelope.form]), [1, 2, 3, 4, 5].map((s) => [s, 'lean']));
  assert.equal(out.ok[4].iotenvelope.ts, 0);
  assert.match(helper.getNode('o1').status.lastCall.args[0].text, /^sensor-01 #5 \d\d:\d\d:\d\d$/);
  await helper.unload();

  // The property is configurable (a typedInput of type msg; a leading "msg." is accepted).
  const nested = await load({ open: { form: 'lean', deviceProperty: 'msg.lorawan.id', devicePropertyType: 'msg' } });
  await send('o1', { payload: leanUp(6, 'nested'), lorawan: { id: 'sensor-02' } });
  await send('o1', { payload: leanUp(7, 'nested', { device: 'sensor-02', secret: OTHER }), lorawan: { id: 'sensor-02' } });
  assert.deepEqual(nested.bad.map((m) => m.error.code), ['auth']);
  assert.deepEqual(nested.ok.map((m) => [m.payload, m.iotenvelope.device, m.iotenvelope.seq]), [['nested', 'sensor-02', 7]]);
});

test('open (lean): a wrong device id is auth and leaves the window alone; a replay is refused; lean and compact share one window', async () => {
  const keys = JSON.stringify({ 'sensor-01': SECRET, 'sensor-02': OTHER, 'sensor-03': SECRET });
  let out = await load({ keys, open: { form: 'lean' } });
  const keyring = helper.getNode('k1');
  const frame = leanUp(5, 'for sensor-01');
  await send('o1', { payload: frame, device: 'sensor-02' }); // another secret
  await send('o1', { payload: frame, device: 'sensor-03' }); // the same secret: the device id is under the tag
  await send('o1', { payload: frame, device: 'sensor-99' });
  assert.deepEqual(out.bad.map((m) => m.error.code), ['auth', 'auth', 'unknown-device']);
  assert.deepEqual(out.caught.map((m) => m.error.code), ['auth', 'auth', 'unknown-device']);
  assert.ok(out.bad.every((m) => m.payload === frame), 'msg.payload is left as it came in');
  assert.match(helper.getNode('o1').status.lastCall.args[0].text, /^unknown-device \d\d:\d\d:\d\d$/, 'no unauthenticated device id in the status');
  assert.deepEqual(stateFiles(), [], 'no refusal wrote a window');
  assert.deepEqual(['sensor-01', 'sensor-02', 'sensor-03'].map((d) => keyring.top(d, 'up')), [null, null, null]);
  await send('o1', { payload: frame, device: 'sensor-01' });
  await send('o1', { payload: frame, device: 'sensor-01' });
  await send('o1', { payload: leanUp(5, 'same seq, other text', { text: true }), device: 'sensor-01' });
  assert.deepEqual(out.ok.map((m) => [m.payload, m.iotenvelope.seq]), [['for sensor-01', 5]]);
  assert.deepEqual(out.bad.slice(3).map((m) => m.error.code), ['replay-duplicate', 'replay-duplicate']);
  assert.equal(keyring.top('sensor-01', 'up'), 5);
  await helper.unload();

  // SPEC.md §5.3: one window per (device, direction) whatever the form.
  out = await load({ keys });
  await send('o1', { payload: sealUp(5, 'compact, seq already used by a lean frame') });
  await send('o1', { payload: sealUp(6, 'compact') });
  assert.deepEqual(out.bad.map((m) => m.error.code), ['replay-duplicate']);
  await helper.unload();
  out = await load({ keys, open: { form: 'lean' } });
  await send('o1', { payload: leanUp(6, 'lean, seq used by the compact envelope'), device: 'sensor-01' });
  await send('o1', { payload: leanUp(7, 'lean'), device: 'sensor-01' });
  assert.deepEqual(out.bad.map((m) => m.error.code), ['replay-duplicate']);
  assert.deepEqual(out.ok.map((m) => [m.payload, m.iotenvelope.form]), [['lean', 'lean']]);
});

test('open (lean): a missing or bad device property or payload is malformed on output 2 and at a Catch node', async () => {
  const out = await load({ open: { form: 'lean' } });
  const frame = leanUp(1, 'x');
  const cases = [
    [{ payload: frame }, /^no device id in msg\.device: a lean envelope does not carry it/],
    [{ payload: frame, device: '' }, /^no device id in msg\.device/],
    [{ payload: frame, device: 42 }, /^msg\.device must be the device id as a string, got number$/],
    [{ payload: frame, device: ['sensor-01'] }, /^msg\.device must be the device id as a string, got an array$/],
    [{ payload: frame, device: 'sensor 01' }, /^msg\.device is not a device id \(SPEC\.md §3\): it has character 7 outside/],
    [{ payload: frame, device: 'x'.repeat(65) }, /^msg\.device is not a device id \(SPEC\.md §3\): it is 65 characters/],
    [{ payload: { uplink_message: { frm_payload: frame.toString('base64') } }, device: 'sensor-01' }, /got object \(this looks like a whole network-server uplink/],
    [{ payload: 42, device: 'sensor-01' }, /^msg\.payload must be the lean frame as a Buffer or its base64url text, got number$/],
    [{ payload: `${frame.toString('base64')}=`, device: 'sensor-01' }, /looks like standard base64/],
    [{ payload: Buffer.alloc(49153, 0x54), device: 'sensor-01' }, /^raw lean envelope is longer than 49152 bytes$/],
    [{ payload: 'V'.repeat(65539), device: 'sensor-01' }, /^lean envelope text is longer than 65536 bytes$/],
    [{ payload: frame.subarray(0, 28), device: 'sensor-01' }, /^lean envelope is 28 bytes; the smallest valid one with ts is 33$/],
    // lean text handed over as a Buffer (http-in without body parsing always gives one): read as a raw frame
    [{ payload: Buffer.from(`${leanUp(1, 'x', { text: true })}\n`), device: 'sensor-01' }, /; this Buffer holds base64url text, and a Buffer is read as the raw frame: pass the text as a string/],
  ];
  for (const [msg] of cases) await send('o1', msg);
  assert.equal(out.ok.length, 0);
  assert.deepEqual(out.bad.map((m) => m.error.code), Array(cases.length).fill('malformed'));
  assert.deepEqual(out.caught.map((m) => m.error.code), Array(cases.length).fill('malformed'));
  out.bad.forEach((m, i) => assert.match(m.error.message, cases[i][1], `case ${i}`));
  assert.match(helper.getNode('o1').status.lastCall.args[0].text, /^malformed \d\d:\d\d:\d\d$/);
  // A lean frame that arrives with a compact envelope, and the other way round.
  await send('o1', { payload: sealUp(2, 'compact'), device: 'sensor-01' });
  assert.equal(out.bad.at(-1).error.code, 'unsupported-version');
  assert.deepEqual(stateFiles(), []);
  await send('o1', { payload: frame, device: 'sensor-01' });
  assert.deepEqual(out.ok.map((m) => m.payload), ['x'], 'nothing above used up seq 1');
  await helper.unload();

  // The detect (compact/JSON) setting does not take lean envelopes.
  const detect = await load();
  await send('o1', { payload: leanUp(3, 'lean', { text: true }), device: 'sensor-01' });
  assert.deepEqual(detect.bad.map((m) => m.error.code), ['unsupported-version']);
  await helper.unload();

  // A device property that is not a msg property expression, a context type, or JSON + Buffer: not usable.
  for (const open of [{ form: 'lean', deviceProperty: 'a[' }, { form: 'lean', devicePropertyType: 'flow' }, { json: true, buffer: true }]) {
    const o = await load({ open });
    await send('o1', { payload: frame, device: 'sensor-01' });
    assert.deepEqual(o.bad.map((m) => m.error.code), ['bad-key'], JSON.stringify(open));
    assert.match(o.bad[0].error.message, /^the open node is not usable: /);
    await helper.unload();
  }
});

test('open: "output the plaintext as a Buffer" gives binary plaintexts byte for byte (refused as text by default)', async () => {
  const binary = Buffer.from('00ff10fe7f80', 'hex');
  let out = await load({ open: { form: 'lean', buffer: true } });
  await send('o1', { payload: leanUp(1, binary), device: 'sensor-01' });
  await send('o1', { payload: leanUp(2, 'text too', { text: true }), device: 'sensor-01' });
  assert.equal(out.bad.length, 0);
  assert.ok(out.ok.every((m) => Buffer.isBuffer(m.payload)));
  assert.deepEqual(out.ok.map((m) => m.payload.toString('hex')), ['00ff10fe7f80', Buffer.from('text too').toString('hex')]);
  await helper.unload();
  out = await load({ open: { buffer: true } });
  await send('o1', { payload: sealUp(3, binary) });
  assert.equal(out.ok[0].payload.toString('hex'), '00ff10fe7f80');
  await helper.unload();
  out = await load({ open: { form: 'lean' } });
  await send('o1', { payload: leanUp(4, binary), device: 'sensor-01' });
  assert.deepEqual(out.bad.map((m) => m.error.code), ['malformed']);
  assert.equal(helper.getNode('k1').top('sensor-01', 'up'), 3, 'the refused plaintext did not use up seq 4');
  await send('o1', { payload: leanUp(4, 'seq 4, still free'), device: 'sensor-01' });
  assert.deepEqual(out.ok.map((m) => m.payload), ['seq 4, still free']);
});

test('seal (lean): base64url text and the raw frame, exactly the library\'s bytes, which open back in the library and the node', async () => {
  let out = await load({ seal: { format: 'lean', time: 'unknown' } });
  await send('s1', { device: 'sensor-01', payload: { interval: 60 } });
  await send('s1', { device: 'sensor-02', payload: Buffer.from([1, 2, 3]) });
  await helper.unload();
  const texts = out.sealed.map((m) => m.payload);
  assert.deepEqual(texts, [
    ie.seal(SECRET, '{"interval":60}', { device: 'sensor-01', seq: 0, ts: 0, direction: 'down', format: 'lean' }),
    ie.seal(OTHER, Buffer.from([1, 2, 3]), { device: 'sensor-02', seq: 0, ts: 0, direction: 'down', format: 'lean' }),
  ]);
  assert.deepEqual(out.sealed.map((m) => m.iotenvelope), [
    { device: 'sensor-01', seq: 0, ts: 0, direction: 'down', type: 'data', form: 'lean' },
    { device: 'sensor-02', seq: 0, ts: 0, direction: 'down', type: 'data', form: 'lean' },
  ]);

  out = await load({ seal: { format: 'lean', output: 'buffer' } }); // this machine's time: 4 bytes more
  await send('s1', { device: 'sensor-01', payload: 'reboot' });
  await send('s1', { device: 'sensor-01', payload: 'x'.repeat(16) });
  await helper.unload();
  const frames = out.sealed.map((m) => m.payload);
  assert.ok(frames.every((f) => Buffer.isBuffer(f)));
  assert.deepEqual(frames.map((f) => [f[0], f.length]), [[0x58, 33], [0x58, 49]], 'down/data with ts; 13 + 4 + 16n bytes');
  assert.deepEqual(out.sealed.map((m) => m.iotenvelope.seq), [1, 2], 'one down counter for every form');
  out.sealed.forEach((m, i) => {
    const want = ie.sealLean(SECRET, ['reboot', 'x'.repeat(16)][i], { device: 'sensor-01', seq: m.iotenvelope.seq, ts: m.iotenvelope.ts, direction: 'down' });
    assert.equal(frames[i].toString('hex'), Buffer.from(want).toString('hex'));
  });
  const opened = [
    ie.open(SECRET, texts[0], { format: 'lean', device: 'sensor-01', direction: 'down', freshness: null }),
    ie.openLean(SECRET, frames[0], { device: 'sensor-01', direction: 'down' }),
  ];
  assert.deepEqual(opened.map((o) => [o.device, o.seq, o.text]), [['sensor-01', 0, '{"interval":60}'], ['sensor-01', 1, 'reboot']]);

  // ... and through an open node set to lean, expecting down (what a device-side Node-RED would run).
  out = await load({ open: { form: 'lean', direction: 'down', requireTime: false } });
  for (const payload of [texts[0], frames[0], frames[1]]) await send('o1', { payload, device: 'sensor-01' });
  await send('o1', { payload: texts[1], device: 'sensor-02' });
  assert.equal(out.bad.length, 0, JSON.stringify(out.bad.map((m) => m.error)));
  assert.deepEqual(out.ok.map((m) => [m.iotenvelope.device, m.iotenvelope.seq, m.payload]), [
    ['sensor-01', 0, '{"interval":60}'], ['sensor-01', 1, 'reboot'], ['sensor-01', 2, 'x'.repeat(16)], ['sensor-02', 0, '\u0001\u0002\u0003'],
  ]);
  // A device without a secret, and no device: nothing sealed, no number spent.
  await helper.unload();
  out = await load({ seal: { format: 'lean', output: 'buffer' } });
  await send('s1', { device: 'sensor-99', payload: 'x' });
  await send('s1', { payload: 'x' });
  await send('s1', { device: 'sensor-01', payload: 'next' });
  assert.deepEqual(out.caught.map((m) => m.error.code), ['unknown-device', 'malformed']);
  assert.equal(ie.openLean(SECRET, out.sealed[0].payload, { device: 'sensor-01', direction: 'down' }).seq, 3);
});

test('vectors/envelope_v1_lean.json through the open node: every valid case opens to its msg, every invalid one is refused with its code', async () => {
  const file = path.join(__dirname, '..', '..', '..', 'vectors', 'envelope_v1_lean.json');
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(doc.algorithm, 'iotenvelope-v1-lean');
  const seen = { opened: 0, resync: 0, refused: 0, repeated: 0 };
  for (const group of doc.testGroups) {
    assert.equal(group.type, 'LeanEnvelopeTest');
    // Every device id a case is opened for maps to the group's secret (WrongDevice cases then fail on the tag).
    const keys = JSON.stringify(Object.fromEntries(group.tests.map((t) => [t.dev, group.secret])));
    const single = group.tests.filter((t) => !t.envelopes);
    let out = await load({ keys, open: { form: 'lean', direction: group.receiverDirection, freshness: false, replay: false, buffer: true } });
    for (const t of single) {
      const before = [out.ok.length, out.bad.length];
      await send('o1', { payload: t.envelope, device: t.dev });
      const what = `tcId ${t.tcId} (${t.comment})`;
      if (t.result === 'valid' && t.type !== 'data') {
        // The node passes data envelopes only (it does not answer resync): refused after the tag and the
        // decryption succeeded, which the library confirms by opening it to msg.
        assert.equal(out.bad.length, before[1] + 1, what);
        assert.equal(out.bad.at(-1).error.code, 'malformed', what);
        assert.match(out.bad.at(-1).error.message, new RegExp(`^expected a data envelope, got ${t.type}`), what);
        const o = ie.open(group.secret, t.envelope, { format: 'lean', device: t.dev, direction: group.receiverDirection, freshness: null });
        assert.equal(Buffer.from(o.plaintext).toString('hex'), t.msg, what);
        seen.resync += 1;
      } else if (t.result === 'valid') {
        const raw = Buffer.from(t.envelope.replace(/\r?\n$/, ''), 'base64url');
        assert.equal(raw.length, t.rawSize, what);
        await send('o1', { payload: raw, device: t.dev });
        assert.deepEqual([out.ok.length, out.bad.length], [before[0] + 2, before[1]], `${what}: ${JSON.stringify(out.bad.at(-1) && out.bad.at(-1).error)}`);
        for (const m of out.ok.slice(-2)) {
          assert.equal(m.payload.toString('hex'), t.msg, what);
          assert.deepEqual(m.iotenvelope, { device: t.dev, seq: t.seq, ts: t.ts, direction: t.direction, type: t.type, form: 'lean' }, what);
        }
        seen.opened += 1;
      } else {
        assert.deepEqual([out.ok.length, out.bad.length], [before[0], before[1] + 1], what);
        assert.equal(out.bad.at(-1).error.code, t.error, what);
        seen.refused += 1;
      }
    }
    await helper.unload();
    // RepeatedSeq: one fresh window (the node's durable one), the envelopes in order.
    for (const t of group.tests.filter((x) => x.envelopes)) {
      out = await load({ keys, open: { form: 'lean', direction: group.receiverDirection, freshness: false, buffer: true } });
      const got = [];
      helper.getNode('ok').on('input', (m) => got.push(['valid', m.payload.toString('hex')]));
      helper.getNode('bad').on('input', (m) => got.push([m.error.code, null]));
      for (const envelope of t.envelopes) await send('o1', { payload: envelope, device: t.dev });
      assert.deepEqual(got.map((g) => g[0]), t.results, `tcId ${t.tcId}`);
      got.forEach((g, i) => { if (g[0] === 'valid') assert.equal(g[1], t.msgs[i], `tcId ${t.tcId}`); });
      assert.equal(t.error, t.results.at(-1));
      seen.repeated += 1;
      await helper.unload();
    }
  }
  const count = (pred) => doc.testGroups.reduce((n, g) => n + g.tests.filter(pred).length, 0);
  assert.equal(seen.opened + seen.resync + seen.refused + seen.repeated, doc.numberOfTests);
  assert.deepEqual(seen, {
    opened: count((t) => t.result === 'valid' && t.type === 'data'),
    resync: count((t) => t.result === 'valid' && t.type !== 'data'),
    refused: count((t) => t.result === 'invalid' && !t.envelopes),
    repeated: count((t) => t.envelopes),
  });
  assert.ok(seen.opened >= 70 && seen.refused >= 100, JSON.stringify(seen));
});
