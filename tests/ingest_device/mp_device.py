# A device on the MicroPython module (interop/micropython/iotenv.py), run by the real `micropython` (unix port):
# it talks HTTP to `iotenvelope serve` itself over a socket, seals each uplink, opens the down commands of each
# response with its own down replay window and acknowledges them in its next uplink.
#
#   micropython mp_device.py HOST PORT KEYHEX DEVICE FIRST_SEQ UPLINKS TS [LOSE]
#
# LOSE (optional): the 1-based uplink whose response the device pretends it never received.
# Prints one JSON line per uplink: {"seq", "status", "down": n, "executed": [...], "refused": [...]}.
import sys
import json
import socket

import iotenv


class DownWindow:
    """This device's down replay window (highest seq and the seqs seen below it)."""

    def __init__(self):
        self.top = -1
        self.seen = set()

    def accept(self, seq):
        if seq in self.seen or seq <= self.top - 64:
            raise iotenv.EnvelopeError("replay-duplicate", "seen before")
        self.seen.add(seq)
        if seq > self.top:
            self.top = seq


def post(host, port, body):
    addr = socket.getaddrinfo(host, port)[0][-1]
    s = socket.socket()
    s.connect(addr)
    head = ("POST /v1/envelopes HTTP/1.0\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (host, len(body)))
    s.send(head.encode() + body.encode())
    chunks = []
    while True:
        data = s.recv(4096)
        if not data:
            break
        chunks.append(data)
    s.close()
    raw = b"".join(chunks)
    sep = raw.find(b"\r\n\r\n")
    status = int(raw[:sep].split(b" ")[1])
    return status, json.loads(raw[sep + 4:])


def hexbytes(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def main():
    host, port, key, device = sys.argv[1], int(sys.argv[2]), hexbytes(sys.argv[3]), sys.argv[4]
    seq, n, ts = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    lose = int(sys.argv[8]) if len(sys.argv) > 8 else 0
    keys = iotenv.Keys(key)
    window = DownWindow()
    ack = None
    for i in range(1, n + 1):
        reading = {"co2": 400 + i}
        if ack is not None:
            reading["ack"] = ack
        status, result = post(host, port, iotenv.seal(keys, json.dumps(reading), device, seq, ts=ts))
        seq += 1
        executed, refused = [], []
        downs = result.get("down", [])
        if i != lose:
            for text in downs:
                try:
                    msg = iotenv.open(keys, text, direction="down", replay=window)
                except iotenv.EnvelopeError as exc:
                    refused.append(exc.code)
                    continue
                executed.append(msg[0].decode())
                ack = msg[4] if ack is None or msg[4] > ack else ack
        print(json.dumps({"seq": seq - 1, "status": status, "down": len(downs), "executed": executed,
                          "refused": refused}))


main()
