'use strict';
// An in-memory sliding replay window (SPEC.md §6 step 7, RFC 4303 §3.4.3 rules) per (device, direction).
// Pass it as `replay` to open(); its state survives a Node-RED redeploy if you store toJSON() in flow context
// and rebuild with ReplayWindow.fromJSON().

const E = require('./errors');

class ReplayWindow {
  constructor(opts) {
    this.size = (opts && opts.size) || 64;
    if (!Number.isInteger(this.size) || this.size < 1 || this.size > 4096) throw new RangeError('window size must be 1..4096');
    this.state = new Map(); // "device\u0000direction" -> {top, bits: BigInt (bit i = top - i accepted)}
  }

  accept(device, direction, seq) {
    const id = `${device}\u0000${direction}`;
    const st = this.state.get(id);
    const w = BigInt(this.size);
    const mask = (1n << w) - 1n;
    if (!st) { this.state.set(id, { top: seq, bits: 1n }); return; }
    if (seq > st.top) {
      const shift = BigInt(seq - st.top);
      st.bits = shift >= w ? 1n : ((st.bits << shift) | 1n) & mask;
      st.top = seq;
      return;
    }
    const off = BigInt(st.top - seq);
    if (off >= w) throw new E.TooOldError(`seq ${seq} is behind the replay window (highest accepted ${st.top}, window ${this.size})`);
    if ((st.bits >> off) & 1n) throw new E.DuplicateError(`seq ${seq} was already accepted from ${device} (${direction})`);
    st.bits |= 1n << off;
  }

  toJSON() {
    const out = {};
    for (const [id, st] of this.state) out[id] = [st.top, st.bits.toString(16)];
    return { size: this.size, state: out };
  }

  static fromJSON(obj) {
    const w = new ReplayWindow({ size: obj.size });
    for (const [id, [top, bits]] of Object.entries(obj.state || {})) w.state.set(id, { top, bits: BigInt(`0x${bits}`) });
    return w;
  }
}

module.exports = { ReplayWindow };
