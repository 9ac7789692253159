'use strict';
// Preloaded (node --require) by backend.test.js: a browser-like global scope for the code loaded after it:
// require('crypto') fails as in a browser bundle (package.json "browser" maps it away) and there is no Buffer;
// what remains is what browsers have too (TextEncoder, crypto.getRandomValues, performance.now).
const Module = require('module');

const load = Module._load;
Module._load = function loadWithoutCrypto(request, ...rest) {
  if (request === 'crypto' || request === 'node:crypto') throw new Error(`Cannot find module '${request}'`);
  return load.call(this, request, ...rest);
};
delete globalThis.Buffer;
