#!/usr/bin/env node
'use strict';
// Rebuilds examples/node-red/flow.json (an importable Node-RED flow) from the two function-node bodies next
// to it, so the code in the flow is exactly the code the tests run.  Usage: node scripts/build-node-red-flow.js

const fs = require('fs');
const path = require('path');

const dir = path.join(__dirname, '..', 'examples', 'node-red');
const open = fs.readFileSync(path.join(dir, 'open-envelope.js'), 'utf8');
const seal = fs.readFileSync(path.join(dir, 'seal-command.js'), 'utf8');
const libs = [{ var: 'iotenvelope', module: 'iotenvelope' }];
// No key in the flow: IOTENVELOPE_KEYS comes from Node-RED's environment. (A tab-level env entry of the same
// name would take precedence over the process environment and silently pin every import to a demo key.)
const z = 'f1a0c0de00000001';
const flow = [
  { id: z, type: 'tab', label: 'iotenvelope example' },
  { id: 'f1a0c0de00000002', type: 'http in', z, name: 'POST /ingest', url: '/ingest', method: 'post', skipBodyParsing: true, x: 130, y: 80, wires: [['f1a0c0de00000003']] },
  { id: 'f1a0c0de00000003', type: 'function', z, name: 'open iotenvelope', func: open, outputs: 2, libs, x: 330, y: 80, wires: [['f1a0c0de00000004', 'f1a0c0de00000005'], ['f1a0c0de00000006', 'f1a0c0de00000007']] },
  { id: 'f1a0c0de00000004', type: 'debug', z, name: 'reading', complete: 'true', x: 540, y: 60, wires: [] },
  { id: 'f1a0c0de00000005', type: 'http response', z, name: '200', statusCode: '200', x: 540, y: 100, wires: [] },
  { id: 'f1a0c0de00000006', type: 'debug', z, name: 'rejected', complete: 'error', x: 540, y: 140, wires: [] },
  { id: 'f1a0c0de00000007', type: 'http response', z, name: '403', statusCode: '403', x: 540, y: 180, wires: [] },
  { id: 'f1a0c0de00000008', type: 'inject', z, name: 'command for sensor-01', props: [{ p: 'payload' }, { p: 'device', v: 'sensor-01', vt: 'str' }], payload: '{"interval": 60}', payloadType: 'json', x: 160, y: 260, wires: [['f1a0c0de00000009']] },
  { id: 'f1a0c0de00000009', type: 'function', z, name: 'seal command', func: seal, outputs: 1, libs, x: 380, y: 260, wires: [['f1a0c0de0000000a']] },
  { id: 'f1a0c0de0000000a', type: 'debug', z, name: 'down envelope', x: 570, y: 260, wires: [] },
];
fs.writeFileSync(path.join(dir, 'flow.json'), `${JSON.stringify(flow, null, 1)}\n`);
console.log(path.join(dir, 'flow.json'));
