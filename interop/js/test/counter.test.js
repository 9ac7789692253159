'use strict';
// BootSafeCounter (SPEC.md §7 two-slot marks): never a repeated number across restarts, under any single torn or
// dropped write (a power-cut harness over an in-memory file system that fails the Nth write, for every N), and
// across kill -9 of a real node process writing real files.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { iotenvelope: ie } = require('./helpers');

const { BootSafeCounter } = ie;

class PowerCut extends Error {}

/**
 * A file system in memory. `power.writes` counts data writes across every boot; the `power.failAt`-th one
 * (1-based) is dropped or torn as `power.mode` says, and then the power goes (PowerCut is thrown).
 */
function memoryFs(disk, power) {
  const p = power || { writes: 0, failAt: 0 };
  const open = new Map();
  let nextFd = 10;
  return {
    readFileSync(file) {
      if (!disk.has(file)) { const e = new Error('ENOENT'); e.code = 'ENOENT'; throw e; }
      return disk.get(file);
    },
    openSync(file, flags) {
      const fd = nextFd++;
      if (flags === 'w') {
        open.set(fd, { file, old: disk.get(file), data: '' });
        disk.set(file, ''); // O_TRUNC reaches the disk first
      } else open.set(fd, { file, dir: true });
      return fd;
    },
    writeSync(fd, text) {
      p.writes += 1;
      const f = open.get(fd);
      if (p.writes === p.failAt) {
        if (p.mode === 'drop') disk.set(f.file, ''); // the data never reached the disk
        else if (p.mode === 'tear') disk.set(f.file, text.slice(0, Math.floor(text.length / 2)));
        else if (p.mode === 'garble') disk.set(f.file, `${text.slice(0, -9)}ffffffff\n`);
        else if (p.mode === 'stale') { if (f.old === undefined) disk.delete(f.file); else disk.set(f.file, f.old); } // nothing of it landed
        throw new PowerCut(`power cut at write ${p.writes}`);
      }
      f.data += text;
      disk.set(f.file, f.data);
    },
    fsyncSync() {},
    closeSync(fd) { open.delete(fd); },
  };
}

test('k < 1 (or not an integer) is refused', () => {
  for (const k of [0, -1, 1.5, '4', NaN]) assert.throws(() => new BootSafeCounter('/nonexistent/x', { k, fs: memoryFs(new Map()) }), RangeError);
  assert.equal(new BootSafeCounter('/nonexistent/x', { k: 1, fs: memoryFs(new Map()) }).peek(), 0);
});

test('numbers count up; a restart resumes at the stored mark, skipping at most k', () => {
  const disk = new Map();
  const a = new BootSafeCounter('/m/c', { k: 4, fs: memoryFs(disk) });
  assert.deepEqual(Array.from({ length: 6 }, () => a.next()), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...disk.keys()].sort(), ['/m/c.a', '/m/c.b']);
  const b = new BootSafeCounter('/m/c', { k: 4, fs: memoryFs(disk) });
  const first = b.next();
  assert.ok(first > 5 && first <= 5 + 4, String(first));
  // b wrote its mark (12) into slot a; slot b holds the older 8. A corrupt slot is ignored: a forged larger mark
  // with a wrong check value does not count, and neither does a truncated one.
  assert.deepEqual([disk.get('/m/c.a').split(' ')[1], disk.get('/m/c.b').split(' ')[1]], ['12', '8']);
  disk.set('/m/c.b', disk.get('/m/c.b').replace(/ \d+ /, ' 999999 '));
  assert.equal(new BootSafeCounter('/m/c', { k: 4, fs: memoryFs(disk) }).peek(), 12);
  disk.set('/m/c.b', disk.get('/m/c.b').slice(0, 10));
  assert.equal(new BootSafeCounter('/m/c', { k: 4, fs: memoryFs(disk) }).peek(), 12);
  disk.delete('/m/c.b');
  assert.equal(new BootSafeCounter('/m/c', { k: 4, fs: memoryFs(disk) }).peek(), 12);
});

test('power cut at every write, every fault kind: the number after the restart is above every returned one', () => {
  let cases = 0;
  for (const k of [1, 3, 16]) {
    for (const mode of ['drop', 'tear', 'garble', 'stale']) {
      for (let failAt = 1; failAt <= 40; failAt++) {
        const disk = new Map();
        const power = { writes: 0, failAt, mode };
        const returned = [];
        // up to three boots before the cut, so both slots hold marks when it happens
        for (let boot = 0; boot < 3; boot++) {
          try {
            const counter = new BootSafeCounter('/d/seq', { k, fs: memoryFs(disk, power) });
            for (let i = 0; i < 4 * k + 3; i++) returned.push(counter.next());
          } catch (e) {
            if (!(e instanceof PowerCut)) throw e;
            break;
          }
        }
        const after = new BootSafeCounter('/d/seq', { k, fs: memoryFs(disk) });
        const next = [after.next(), after.next()];
        const max = Math.max(-1, ...returned);
        assert.ok(next[0] > max && next[1] === next[0] + 1, `k=${k} ${mode} write ${failAt}: resumed at ${next[0]}, ${max} was returned`);
        assert.equal(new Set(returned).size, returned.length);
        cases += 1;
      }
    }
  }
  assert.equal(cases, 3 * 4 * 40);
});

test('kill -9 of a node process drawing numbers from real files never repeats a number', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotenvelope-counter-'));
  const file = path.join(dir, 'seq');
  const child = `
    const { BootSafeCounter } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const fs = require('fs');
    const c = new BootSafeCounter(${JSON.stringify(file)}, { k: 5 });
    for (;;) fs.writeSync(1, c.next() + '\\n');`;
  const seen = [];
  try {
    for (let run = 0; run < 4; run++) {
      const numbers = await new Promise((resolve, reject) => {
        const p = spawn(process.execPath, ['-e', child], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
          if (out.length > 2000 + run * 500 && !p.killed) p.kill('SIGKILL');
        });
        p.on('error', reject);
        p.on('exit', () => resolve(out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number)));
      });
      assert.ok(numbers.length > 100, String(numbers.length));
      assert.ok(numbers[0] > Math.max(-1, ...seen), `run ${run} started at ${numbers[0]}`);
      seen.push(...numbers);
    }
    assert.equal(new Set(seen).size, seen.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
