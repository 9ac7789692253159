#!/usr/bin/env node
'use strict';
// The node process the Python side talks to (iotenvelope/verify/peers/js.py), in one of two modes.
//
// `node bridge.js --protocol LIB`: a verify runner (docs/runner-protocol.md, protocol 1) on one backend: LIB is
// "node" for the node:crypto backend (the package's default under Node.js) or a crypto-js version for the
// crypto-js backend on that version. `iotenvelope verify` starts one such process per js-* row; the requests
// and answers are in verify/runner.js.
//
// `node bridge.js`: the tool/test bridge (tests, bench/bridge.py). JSON lines; each request line is an object
// {"id", "op", ...}; each answer is one line {"id", "ok": true, "result": ...} or
// {"id", "ok": false, "error": {"name", "code", "message"}}. Byte strings travel as {"hex": "..."}. Every request
// names the backend it wants ("lib", as above); all installed versions (npm aliases crypto-js-<version>) are
// loaded side by side.
//
// ops:
//   hello                         -> {node, versions, package, backends, openssl}
//   call {lib, fn, args}          -> the return value of iotenvelope.<fn>(...args) ("legacy.decryptKey" etc.)
//   native {lib, what, ...}       -> crypto-js's own high-level calls (what crypto-js users write)
//
// `handle(request)` and `protocolHandler(lib)` are exported so the PyExecJS adapters run exactly the same code,
// one node per call.

const fs = require('fs');
const path = require('path');
const iotenvelope = require('.');
const { makeHandler } = require('./verify/runner');

const instances = new Map();

function installedVersions() {
  const dir = path.join(__dirname, 'node_modules');
  let names = [];
  try { names = fs.readdirSync(dir); } catch (e) { return []; }
  return names.map((n) => /^crypto-js-(\d+\.\d+\.\d+)$/.exec(n)).filter(Boolean).map((m) => m[1]).sort();
}

function lib(version) {
  if (!version) return iotenvelope;
  if (version === 'node' && !instances.has(version)) {
    instances.set(version, iotenvelope.create(iotenvelope.CryptoJS, iotenvelope.cryptoJsVersion, { backend: 'node:crypto' }));
  }
  if (!instances.has(version)) {
    if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`bad crypto-js version ${version}`);
    // eslint-disable-next-line global-require, import/no-dynamic-require
    const CryptoJS = require(`crypto-js-${version}`);
    // eslint-disable-next-line global-require, import/no-dynamic-require
    const actual = require(`crypto-js-${version}/package.json`).version;
    if (actual !== version) throw new Error(`crypto-js-${version} is really ${actual}`);
    instances.set(version, iotenvelope.create(CryptoJS, version));
  }
  return instances.get(version);
}

function decodeArg(v) {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    if (Object.keys(v).length === 1 && typeof v.hex === 'string') return iotenvelope.bytes.hexDecode(v.hex);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeArg(x)]));
  }
  if (Array.isArray(v)) return v.map(decodeArg);
  return v;
}

function encodeResult(v) {
  if (v instanceof Uint8Array) return { hex: iotenvelope.bytes.hexEncode(v) };
  if (Array.isArray(v)) return v.map(encodeResult);
  if (v && typeof v === 'object') {
    const out = {};
    // getters (an opened envelope's `text`) are left out: they may throw for binary plaintext
    for (const k of Object.keys(v)) if (!Object.getOwnPropertyDescriptor(v, k).get) out[k] = encodeResult(v[k]);
    return out;
  }
  return v;
}

function native(ie, req) {
  const C = ie.CryptoJS;
  const B = ie.bytes;
  const report = (wa) => {
    const res = { hex: C.enc.Hex.stringify(wa) };
    try { res.utf8 = wa.toString(C.enc.Utf8); } catch (e) { res.utf8Error = e.message; }
    return res;
  };
  switch (req.what) {
    case 'passphrase-encrypt': // CryptoJS.AES.encrypt(text, passphrase[, {hasher}])
      return C.AES.encrypt(req.text, req.passphrase, req.hasher === 'sha256' ? { hasher: C.algo.SHA256 } : undefined).toString();
    case 'passphrase-decrypt':
      return report(C.AES.decrypt(req.ct, req.passphrase, req.hasher === 'sha256' ? { hasher: C.algo.SHA256 } : undefined));
    case 'key-encrypt':
      return C.AES.encrypt(B.toWords(B.hexDecode(req.msg)), B.toWords(B.hexDecode(req.key)),
        { iv: B.toWords(B.hexDecode(req.iv)), padding: ie.cipher.padObject(req.padding || 'pkcs7') }).toString();
    case 'key-decrypt':
      return report(C.AES.decrypt(req.ct, B.toWords(B.hexDecode(req.key)),
        { iv: B.toWords(B.hexDecode(req.iv)), padding: ie.cipher.padObject(req.padding || 'pkcs7') }));
    case 'kdf-openssl-execute': { // CryptoJS.kdf.OpenSSL.execute(passphrase, keyWords, ivWords, salt)
      const p = C.kdf.OpenSSL.execute(req.passphrase, req.keyWords, req.ivWords, B.toWords(B.hexDecode(req.salt)));
      return { key: C.enc.Hex.stringify(p.key), iv: C.enc.Hex.stringify(p.iv) };
    }
    default:
      throw new Error(`unknown native operation ${req.what}`);
  }
}

function run(req) {
  switch (req.op) {
    case 'hello':
      return {
        node: process.version, versions: installedVersions(), package: require('./package.json').version,
        backends: ['node:crypto', 'crypto-js'], openssl: process.versions.openssl, default: iotenvelope.backend,
      };
    case 'call': {
      let target = lib(req.lib);
      const parts = String(req.fn).split('.');
      for (const p of parts.slice(0, -1)) target = target[p];
      const fn = target && target[parts[parts.length - 1]];
      if (typeof fn !== 'function' || parts.some((p) => p.startsWith('_') || p === 'constructor' || p === 'CryptoJS')) {
        throw new Error(`no function ${req.fn}`);
      }
      return encodeResult(fn(...decodeArg(req.args || [])));
    }
    case 'native':
      return native(lib(req.lib), req);
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

function handle(req) {
  try {
    return { id: req.id, ok: true, result: run(req) };
  } catch (e) {
    return { id: req.id, ok: false, error: { name: e.name, code: e.code || null, message: e.message } };
  }
}

const protocolHandlers = new Map();

/** The runner-protocol handler for one backend ("node" or a crypto-js version). */
function protocolHandler(version) {
  if (!protocolHandlers.has(version)) {
    const ie = lib(version);
    const pkg = require('./package.json').version;
    const backend = version === 'node' ? `node:crypto, OpenSSL ${process.versions.openssl}` : `crypto-js ${version}`;
    protocolHandlers.set(version, makeHandler(ie, { name: `iotenvelope-js (${backend})`, version: `${pkg} (node ${process.version})` }));
  }
  return protocolHandlers.get(version);
}

/** Answer JSON lines on stdin until it closes: `answer(request)` for each object, a protocol error otherwise. */
function serveLines(answer, badLine) {
  let buffer = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.trim()) continue;
      let request;
      try {
        request = JSON.parse(line);
      } catch (e) {
        request = undefined;
      }
      const out = request && typeof request === 'object' && !Array.isArray(request) ? answer(request) : badLine();
      process.stdout.write(`${JSON.stringify(out)}\n`);
    }
  });
  process.stdin.on('end', () => process.exit(0));
}

function main(argv) {
  if (argv[0] === '--protocol') {
    let handler;
    try {
      handler = protocolHandler(argv[1] || 'node');
    } catch (e) {
      process.stderr.write(`bridge.js --protocol: ${String(e.message).split('\n')[0]}\n`);
      process.exit(2);
    }
    serveLines(handler, () => ({ id: null, ok: false, error: 'bad-request', message: 'not a JSON object' }));
    return;
  }
  if (argv.length) {
    process.stderr.write('usage: node bridge.js [--protocol node|CRYPTOJS_VERSION]\n');
    process.exit(2);
  }
  serveLines(handle, () => ({ id: null, ok: false, error: { name: 'ProtocolError', code: null, message: 'bad request line: not a JSON object' } }));
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { handle, protocolHandler, installedVersions };
