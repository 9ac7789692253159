#!/usr/bin/env node
// Run a MicroPython script inside the real MicroPython WebAssembly interpreter (npm
// @micropython/micropython-webassembly-pyscript), like `micropython SCRIPT ARGS...` would. TEST-ONLY.
//
//   node mpnode.mjs [--heap BYTES] [--modules DIR] SCRIPT [ARGS...]
//   node mpnode.mjs --version            prints the interpreter's version, e.g. 1.27.0
//
// The interpreter sees an in-memory file system. SCRIPT is copied to /app and /app is sys.path[0]; the
// *.py and *.mpy files of SCRIPT's folder are copied beside it, or those of --modules DIR instead (that is
// how the tests import the compiled .mpy rather than the .py). ARGS naming existing host files are copied
// in at their absolute paths and passed as such.
//
// What this build lacks and a device has is supplied here, test-only, and never ships with the module:
//   * cryptolib: testing/cryptolib.py (last on sys.path) on top of node's AES (OpenSSL), enforcing the
//     ucryptolib restrictions; see that file.
//   * os.urandom: node's crypto.randomBytes.
//   * reading stdin: this build has no stdin of its own; _nodehost.read_line() reads one line of node's
//     stdin (blocking, "" at end of input), so a script can answer a line protocol (run_vectors.py --serve).
// The exit status is the script's sys.exit() status, 1 on an uncaught exception.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  process.stderr.write(`mpnode: ${msg}\nusage: node mpnode.mjs [--heap BYTES] [--modules DIR] SCRIPT [ARGS...]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let heap = 8 * 1024 * 1024;
let modulesDir = null;
let showVersion = false;
while (argv.length && argv[0].startsWith("--")) {
  const opt = argv.shift();
  if (opt === "--heap") heap = parseInt(argv.shift(), 10);
  else if (opt === "--modules") modulesDir = argv.shift();
  else if (opt === "--version") showVersion = true;
  else usage(`unknown option ${opt}`);
}
if (!showVersion && !argv.length) usage("no script given");
if (!(heap > 0)) usage("--heap needs a positive number of bytes");

const out = (line) => process.stdout.write(line + "\n");
const err = (line) => process.stderr.write(line + "\n");
const mp = await loadMicroPython({ heapsize: heap, stdout: out, stderr: err });

if (showVersion) {
  mp.runPython("import sys\n_v = '%d.%d.%d' % sys.implementation.version[:3]");
  out(mp.globals.get("_v"));
  process.exit(0);
}

mp.registerJsModule("_nodehost", {
  // One node Cipher per cryptolib.aes object: OpenSSL keeps the CBC chaining state between update() calls.
  aes_new(keyHex, mode, ivHex, decrypt) {
    const key = Buffer.from(keyHex, "hex");
    const name = `aes-${key.length * 8}-${mode === 1 ? "ecb" : "cbc"}`;
    const iv = mode === 1 ? null : Buffer.from(ivHex, "hex");
    const c = decrypt ? crypto.createDecipheriv(name, key, iv) : crypto.createCipheriv(name, key, iv);
    c.setAutoPadding(false);
    return { update: (hex) => c.update(Buffer.from(hex, "hex")).toString("hex") };
  },
  random_hex: (n) => crypto.randomBytes(n).toString("hex"),
  read_line: readLine,
});

// stdin, read synchronously (the interpreter runs on this thread): whole chunks are kept in `pending` and
// handed out one line at a time; "" once stdin has ended and nothing is left.
let pending = Buffer.alloc(0);
let stdinDone = false;
const napCell = new Int32Array(new SharedArrayBuffer(4));
function readLine() {
  const chunk = Buffer.alloc(65536);
  for (;;) {
    const nl = pending.indexOf(10);
    if (nl >= 0) {
      const line = pending.subarray(0, nl + 1);
      pending = pending.subarray(nl + 1);
      return line.toString("utf8");
    }
    if (stdinDone) {
      const rest = pending;
      pending = Buffer.alloc(0);
      return rest.toString("utf8");
    }
    let n;
    try {
      n = fs.readSync(0, chunk, 0, chunk.length, null);
    } catch (e) {
      if (e.code === "EAGAIN") { Atomics.wait(napCell, 0, 0, 5); continue; } // a non-blocking stdin: wait, retry
      if (e.code === "EOF") n = 0;
      else throw e;
    }
    if (n === 0) stdinDone = true;
    else pending = Buffer.concat([pending, chunk.subarray(0, n)]);
  }
}

const FS = mp.FS;
function put(dest, src) {
  FS.mkdirTree(path.posix.dirname(dest));
  FS.writeFile(dest, fs.readFileSync(src));
}

const script = path.resolve(argv[0]);
const scriptName = path.basename(script);
put(`/app/${scriptName}`, script);
const libDir = modulesDir ? path.resolve(modulesDir) : path.dirname(script);
for (const name of fs.readdirSync(libDir)) {
  if ((name.endsWith(".py") || name.endsWith(".mpy")) && name !== scriptName) put(`/app/${name}`, path.join(libDir, name));
}
put("/testing/cryptolib.py", path.join(here, "cryptolib.py"));

const args = argv.slice(1).map((a) => {
  if (!a.startsWith("-") && fs.existsSync(a) && fs.statSync(a).isFile()) {
    const abs = path.resolve(a);
    put(abs, abs);
    return abs;
  }
  return a;
});

mp.globals.set("_argv", JSON.stringify([`/app/${scriptName}`, ...args]));
const prelude = `
import sys, os, json, _nodehost
try:
    import ubinascii as _ba
except ImportError:
    import binascii as _ba
sys.path[:] = ["/app"] + [p for p in sys.path if p not in ("", "/app")] + ["/testing"]
os.urandom = lambda n: _ba.unhexlify(_nodehost.random_hex(n))
sys.argv[:] = json.loads(_argv)
os.chdir("/app")
_status = 0
try:
    with open(sys.argv[0]) as _f:
        _src = _f.read()
    exec(_src, {"__name__": "__main__", "__file__": sys.argv[0]})
except SystemExit as _e:
    _c = _e.args[0] if _e.args else 0
    _status = 0 if _c is None else _c if type(_c) is int else 1
    if type(_c) is str:
        print(_c)
except BaseException as _e:
    sys.print_exception(_e, sys.stderr)
    _status = 1
`;
let status;
try {
  mp.runPython(prelude);
  status = mp.globals.get("_status");
} catch (e) {
  err(`mpnode: interpreter error: ${e.message}`);
  status = 1;
}
process.exitCode = typeof status === "number" ? status : 1;
