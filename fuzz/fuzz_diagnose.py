"""atheris harness: ``iotenvelope diagnose`` on arbitrary input (issue 10 F1: hostile input must end in findings,
no findings, or a library error, with work bounded by the input cap). Run:

    PYTHONPATH=$PWD python3 fuzz/fuzz_diagnose.py -max_total_time=60 [corpus_dir]
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from iotenvelope.errors import IotEnvelopeError
    from iotenvelope.profiles import diagnose

KEY = bytes(range(16)).hex()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    use_passphrase = fdp.ConsumeBool()
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        if use_passphrase:
            diagnose.diagnose(payload, passphrase="pw", now=1763900000)
        else:
            diagnose.diagnose(payload, key=KEY, now=1763900000)
    except IotEnvelopeError:
        pass


def main(argv: list[str]) -> None:
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
