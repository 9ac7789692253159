"""Down commands: queued by the operator, delivered in the ``"down"`` member of the response to the device's
next accepted uplink, re-sent until the device acknowledges them.

Delivery and acknowledgement (docs/ingest.md, "Commands"):

1. ``POST /v1/devices/ID/commands`` stores the command's plaintext for that device only.
2. On the device's next *accepted* uplink, in the same transaction that stores the reading, every pending
   command (oldest first, at most :data:`MAX_PER_RESPONSE`) that was never sent gets the next number of the
   device's durable down counter and is sealed with the secret that opened this uplink (the one the device
   just proved it holds), device id bound under the MAC, direction down. The envelope text is stored with the
   command; commands already sent go out again as the very same text (never re-sealed: a (device, down, seq)
   is sealed once, SPEC.md §7).
3. The device opens each envelope (MAC, direction down, its own down replay window) and acts on the ones its
   window accepts: a repeat of a command it already executed is refused by that window, so re-sending is
   harmless, and so is an attacker's replay or reflection of any envelope.
4. The device acknowledges inside its next uplink's authenticated plaintext: a JSON object with a member
   ``"ack": N`` (N = the highest down seq it has processed) marks every command of that device with a down
   seq <= N as delivered. The acknowledgement is authenticated (it is under the uplink's MAC) and takes
   effect only if that uplink is accepted, so a replayed or forged request cannot acknowledge anything.
   A response that got lost only means the commands come again on the next uplink.
"""

from __future__ import annotations

import json

from ..envelope import MAX_U32, seal
from .tables import Tables

MAX_PER_RESPONSE = 8
MAX_COMMAND_BYTES = 4096
#: LoRaWAN (lorawan.py): re-push an unacknowledged frame after this many seconds, and push it this many times
#: in all. Here rather than in lorawan.py so that building the ``serve`` parser does not import urllib.request.
LORAWAN_REPUSH_AFTER = 3600
LORAWAN_MAX_PUSHES = 5


def parse_ack(plaintext: bytes) -> int | None:
    """The ``"ack"`` member of a JSON-object plaintext, if it is an integer down seq; else None."""
    if not plaintext[:1] == b"{":
        return None
    try:
        data = json.loads(plaintext)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        ack = data.get("ack")
        if type(ack) is int and 0 <= ack <= MAX_U32:
            return ack
    return None


def deliver(tables: Tables, tx, *, device: str, secret: bytes, ack: int | None, now: float,
            route: str = "http") -> list[str]:
    """Inside the uplink's transaction: apply its acknowledgement (:func:`parse_ack` of the accepted uplinks'
    plaintexts; the highest if there were several), then the compact texts of the pending commands for
    ``device`` (sealing those never sent)."""
    if ack is not None:
        tables.ack(tx, device, ack, now)
    out = []
    for command_id, body, down_seq, envelope in tables.pending_commands(tx, device, MAX_PER_RESPONSE, route):
        if envelope is None:
            down_seq = tx.next_send_seq(device, "down")
            envelope = seal(secret, bytes(body), device=device, seq=down_seq, ts=int(now), direction="down")
            tables.mark_sent(tx, command_id, down_seq, envelope, now)
        else:
            tables.count_resend(tx, command_id, now)
        out.append(envelope)
    return out
