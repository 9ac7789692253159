'use strict';
// What durability costs the Node-RED nodes: one replay-window accept / one down seq through the palette's
// fsynced two-slot files (interop/node-red/lib/state.js) beside the in-memory ReplayWindow of the iotenvelope
// package, and the seal counter with K = 1 beside K = 16. One run, median of --repeat rounds.
//
//   node bench/node_red_state.js [--json] [--n 500] [--repeat 5] [--dir /path/on/the/disk/to/measure]
//
// Needs interop/node-red/node_modules (bash .ci/install.d/36-node-red-palette.sh). The state directory defaults
// to a fresh one under the system temp dir: the figure is that file system's fsync rate.

const fs = require('fs');
const os = require('os');
const path = require('path');

const PALETTE = path.join(__dirname, '..', 'interop', 'node-red');
const ie = require(path.join(PALETTE, 'node_modules', 'iotenvelope'));
const { StateStore } = require(path.join(PALETTE, 'lib', 'state'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const N = Number(arg('n', 500));
const REPEAT = Number(arg('repeat', 5));
const BASE = arg('dir', os.tmpdir());
const FP = '0123456789abcdef';
const made = [];
process.on('exit', () => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

function freshDir() {
  const d = fs.mkdtempSync(path.join(BASE, 'nr-bench-'));
  made.push(d);
  return d;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function perOpMicros(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / N;
}

const configs = {
  'window accept, fsynced file': () => {
    const s = new StateStore(freshDir());
    return (i) => s.accept(ie, `dev-${i % 8}`, 'up', FP, i);
  },
  'window accept, memory (ReplayWindow)': () => {
    const w = new ie.ReplayWindow({ size: 64 });
    return (i) => w.accept(`dev-${i % 8}`, 'up', i);
  },
  'down seq, fsynced, K = 1': () => {
    const s = new StateStore(freshDir());
    return () => s.nextDown(ie, 'dev-0', FP, 1);
  },
  'down seq, fsynced, K = 16': () => {
    const s = new StateStore(freshDir());
    return () => s.nextDown(ie, 'dev-0', FP, 16);
  },
};

const runs = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
for (let r = 0; r < REPEAT; r++) {
  for (const [name, make] of Object.entries(configs)) runs[name].push(perOpMicros(make()));
}
const fsynced = median(runs['window accept, fsynced file']);
const result = {
  node: process.version, platform: `${os.type()} ${os.release()}`, dir: BASE, n: N, repeat: REPEAT,
  iotenvelope: require(path.join(PALETTE, 'node_modules', 'iotenvelope', 'package.json')).version,
  median_us: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, Number(median(v).toFixed(2))])),
  accepts_per_s_fsynced: Math.round(1e6 / fsynced),
  fsynced_vs_memory: Number((fsynced / median(runs['window accept, memory (ReplayWindow)'])).toFixed(1)),
  k1_vs_k16: Number((median(runs['down seq, fsynced, K = 1']) / median(runs['down seq, fsynced, K = 16'])).toFixed(1)),
};
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(result, null, 2));
} else {
  for (const [k, v] of Object.entries(result.median_us)) console.log(`${k.padEnd(40)} ${v.toFixed(2).padStart(10)} us/op`);
  console.log(`fsynced accepts/s: ${result.accepts_per_s_fsynced}; fsynced/memory: ${result.fsynced_vs_memory}; ` +
    `K=1/K=16: ${result.k1_vs_k16}`);
}
