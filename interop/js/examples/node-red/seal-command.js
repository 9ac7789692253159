// Node-RED function node "seal command": msg.device + msg.payload (an object) -> a down envelope (JSON form).
// The down sequence number must never repeat: keep it in a persistent context store (settings.js
// contextStorage: { default: { module: 'localfilesystem' } }).
const keys = JSON.parse(env.get('IOTENVELOPE_KEYS') || '{}');
const seq = (context.get(`downSeq:${msg.device}`) || 0) + 1;
context.set(`downSeq:${msg.device}`, seq);
msg.payload = iotenvelope.seal(keys[msg.device], JSON.stringify(msg.payload),
  { device: msg.device, seq, direction: 'down', format: 'json' });
return msg;
