// Node-RED function node "open iotenvelope" (2 outputs: 1 = opened reading, 2 = rejected message).
// Needs the module variable `iotenvelope` (function node Setup tab, or functionGlobalContext: see
// docs/javascript.md) and the env variable IOTENVELOPE_KEYS = {"sensor-01": "<32 or 64 hex digits>", ...}.
const keys = JSON.parse(env.get('IOTENVELOPE_KEYS') || '{}');
const saved = context.get('replay');
const replay = saved ? iotenvelope.ReplayWindow.fromJSON(saved) : new iotenvelope.ReplayWindow({ size: 64 });
const text = typeof msg.payload === 'string' ? msg.payload : JSON.stringify(msg.payload);
try {
  // MAC first (constant time), then decrypt, then timestamp freshness, then the replay window.
  const opened = iotenvelope.open(keys, text, { direction: 'up', replay });
  context.set('replay', replay.toJSON());
  msg.device = opened.device;
  msg.seq = opened.seq;
  msg.ts = opened.ts;
  msg.payload = JSON.parse(opened.text);
  return [msg, null];
} catch (e) {
  if (!(e instanceof iotenvelope.IotEnvelopeError)) throw e;
  msg.error = { code: e.code, message: e.message };
  return [null, msg];
}
