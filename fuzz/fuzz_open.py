"""atheris (libFuzzer for Python) harness: the envelope decoders and ``open`` (issue 10 F1).

Every input must end in an Envelope/Opened or a library error (a MalformedError while decoding), never another
exception, and the JSON scanner must agree with a json.loads-based reference on what it accepts. Run:

    PYTHONPATH=$PWD python3 fuzz/fuzz_open.py -max_total_time=60 [corpus_dir]

tests/test_fuzz.py runs it for a few seconds in CI.
"""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports():
    import iotenvelope
    from iotenvelope.envelope import Envelope, compact, jsonform
    from iotenvelope.errors import IotEnvelopeError, MalformedError

SECRET = bytes(range(16))
SEEDS = [iotenvelope.seal(SECRET, b'{"t": 1}', device="d1", seq=3, ts=0, iv=bytes(16)),
         iotenvelope.seal(SECRET, b'{"t": 1}', device="d1", seq=3, ts=0, iv=bytes(16), format="json")]


def reference(text: str):
    """json.loads + a set for duplicates + from_dict: slow but obviously right (used only on short input)."""
    def pairs(items):
        if len({k for k, _ in items}) != len(items):
            raise MalformedError("duplicate")
        return dict(items)

    def constant(name):
        raise MalformedError(name)
    try:
        obj = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and any(isinstance(v, (dict, list)) for v in obj.values()):
        return None
    try:
        return jsonform.from_dict(obj)
    except IotEnvelopeError:
        return None


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    if mode == 0:  # mutate a real envelope's text
        rest = SEEDS[len(rest) % 2].encode()[: len(rest) % 200] + rest
    for call in (lambda: Envelope.decode(rest), lambda: compact.from_bytes(rest),
                 lambda: iotenvelope.open(SECRET, rest, freshness=None)):
        try:
            call()
        except IotEnvelopeError:
            pass
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        got = jsonform.from_text(text)
    except MalformedError:
        got = None
    if len(text) < 2000 and not text.endswith("\n"):  # from_text strips one newline; the reference does not
        want = reference(text)
        if (got is None) != (want is None) or (got is not None and got.mac_input() != want.mac_input()):
            raise AssertionError(f"scanner and json.loads disagree on {text!r}: {got!r} vs {want!r}")


def main(argv: list[str]) -> None:
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
