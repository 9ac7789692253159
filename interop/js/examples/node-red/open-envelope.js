// Node-RED function node "open iotenvelope" (2 outputs: 1 = opened reading, 2 = rejected message).
// Needs the module variable `iotenvelope` (function node Setup tab, or functionGlobalContext: see
// docs/javascript.md) and the environment variable IOTENVELOPE_KEYS = {"sensor-01": "<32 or 64 hex digits>", ...}.
// msg.payload is the request body: a Buffer when the http-in node does not parse the body (as in the example
// flow, so the strict JSON reader sees the exact bytes), else a string (compact form) or an already parsed object.
const keys = JSON.parse(env.get('IOTENVELOPE_KEYS') || '{}');
const saved = context.get('replay');
const replay = saved ? iotenvelope.ReplayWindow.fromJSON(saved) : new iotenvelope.ReplayWindow({ size: 64 });
const body = msg.payload;
const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
try {
  // MAC first (constant time), then decrypt, then timestamp freshness, then the replay window.
  const opened = iotenvelope.open(keys, text, { direction: 'up', replay });
  const reading = opened.text; // the exact plaintext (UTF-8); a non-text plaintext is rejected as `malformed`
  context.set('replay', replay.toJSON()); // only an accepted envelope changes the stored window
  msg.device = opened.device;
  msg.seq = opened.seq;
  msg.ts = opened.ts;
  msg.payload = reading; // a string: add a JSON node after output 1 if your devices send JSON readings
  return [msg, null];
} catch (e) {
  if (!(e instanceof iotenvelope.IotEnvelopeError)) throw e;
  msg.error = { code: e.code, message: e.message };
  msg.payload = e.code; // the SPEC.md §6.1 name, e.g. `auth` or `replay-duplicate`
  return [null, msg];
}
