'use strict';
// Preloaded (node --require) by backend.test.js: makes require('crypto') fail as it does in a browser bundle.
const Module = require('module');

const load = Module._load;
Module._load = function loadWithoutCrypto(request, ...rest) {
  if (request === 'crypto' || request === 'node:crypto') throw new Error(`Cannot find module '${request}'`);
  return load.call(this, request, ...rest);
};
