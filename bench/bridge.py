"""Per-call cost of talking to crypto-js: the long-lived node bridge vs PyExecJS (one node per call).

    python bench/bridge.py [--ops 200] [--json]

Both transports run the SAME list of operations (envelope open / seal and crypto-js passphrase decrypts, spread
over crypto-js 3.3.0, 4.1.1 and 4.2.0) and must return the same results. Prints the median time per call of
each and the ratio of the medians; --json prints {"bridge_vs_pyexecjs": ratio, ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import iotenvelope  # noqa: E402
from iotenvelope.verify.peers import js  # noqa: E402
from iotenvelope.profiles import cryptojs  # noqa: E402

SECRET = bytes(range(16))
NOW = 1763900000


def operations(n: int) -> list[tuple[str, dict]]:
    ops = []
    for i in range(n):
        version = js.EXPECTED_VERSIONS[i % len(js.EXPECTED_VERSIONS)]
        kind = i % 3
        if kind == 0:
            text = iotenvelope.seal(SECRET, f'{{"co2": {i}}}'.encode(), device="sensor-01", seq=i, ts=NOW)
            ops.append(("call", dict(lib=version, fn="open", args=[SECRET.hex(), text, {"now": NOW}])))
        elif kind == 1:
            ops.append(("call", dict(lib=version, fn="seal", args=[SECRET.hex(), f"reading {i}",
                                                                   {"device": "d", "seq": i, "ts": NOW,
                                                                    "iv": {"hex": f"{i:032x}"}}])))
        else:
            text = cryptojs.encrypt_passphrase(f"message {i}".encode(), "pw", salt=i.to_bytes(8, "big"))
            ops.append(("native", dict(lib=version, what="passphrase-decrypt", ct=text, passphrase="pw")))
    return ops


def timed(transport, ops) -> tuple[list[float], list]:
    times, results = [], []
    for op, request in ops:
        start = time.perf_counter()
        results.append(transport.call(op, **json.loads(json.dumps(request))))
        times.append(time.perf_counter() - start)
    return times, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200, help="operations per transport (default 200)")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    if opts.ops < 1:
        parser.error("--ops must be >= 1")
    reason = js.unavailable_reason()
    if reason:
        print(f"bench/bridge.py: {reason}", file=sys.stderr)
        return 2
    ops = operations(opts.ops)
    bridge = js.NodeBridge()
    try:
        bridge.call("hello")  # start the process outside the timed loop: it is started once per run
        bridge_times, bridge_results = timed(bridge, ops)
    finally:
        bridge.close()
    try:
        execjs_transport = js.ExecJSTransport()
    except js.BridgeError as exc:
        print(f"bench/bridge.py: {exc}", file=sys.stderr)
        return 2
    execjs_times, execjs_results = timed(execjs_transport, ops)
    if execjs_results != bridge_results:
        print("bench/bridge.py: the two transports returned different results", file=sys.stderr)
        return 1
    b, e = statistics.median(bridge_times), statistics.median(execjs_times)
    ratio = round(e / b, 1)
    if opts.json:
        print(json.dumps({"bridge_vs_pyexecjs": ratio, "ops": len(ops), "bridge_median_ms": round(b * 1000, 4),
                          "pyexecjs_median_ms": round(e * 1000, 3), "bridge_total_s": round(sum(bridge_times), 3),
                          "pyexecjs_total_s": round(sum(execjs_times), 3)}))
    else:
        print(f"{len(ops)} operations through each transport (same requests, same results)")
        print(f"node bridge (one long-lived process): median {b * 1000:.3f} ms/call, total {sum(bridge_times):.2f} s")
        print(f"PyExecJS (one node per call):          median {e * 1000:.1f} ms/call, total {sum(execjs_times):.2f} s")
        print(f"bridge_vs_pyexecjs: {ratio}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
