#!/usr/bin/env python3
"""A runner that misbehaves on purpose (tests only): ``misbehaving_runner.py MODE [N]``.

MODE: crash (exit 3 after answering N requests, with a message on stderr), hang (stop answering after N
requests), garbage (answer request N with a line that is not JSON), wrong-id (answer request N with another
id), protocol2 (hello says protocol 2), no-ok (answer without "ok"), silent-exit (exit 0 at once).
Before misbehaving it answers like the example Python runner.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "runners"))
import python_runner  # noqa: E402

mode = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 3
if mode == "silent-exit":
    sys.exit(0)
count = 0
for line in sys.stdin:
    request = json.loads(line)
    out = {"id": request.get("id"), **python_runner.answer(request)}
    if request.get("op") == "hello":
        if mode == "protocol2":
            out["protocol"] = 2
    else:
        count += 1
        if count > limit:
            if mode == "crash":
                sys.stderr.write("runner: simulated fault in the library\n")
                sys.exit(3)
            if mode == "hang":
                time.sleep(3600)
            if mode == "garbage":
                sys.stdout.write("Segmentation fault? <not json>\n")
                sys.stdout.flush()
                continue
            if mode == "wrong-id":
                out["id"] = request["id"] + 100
            if mode == "no-ok":
                del out["ok"]
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
