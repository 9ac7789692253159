"""iotenvelope: encrypted, authenticated, replay-protected messages between IoT devices and backends.

Public API (see README.md and SPEC.md)::

    import iotenvelope
    token = iotenvelope.seal(secret, b'{"co2": 1223}', device="sensor-01", seq=1)
    msg = iotenvelope.open(secret, token)        # MAC first, then decrypt, then freshness/replay
"""

__version__ = "0.2.0"

from .envelope import Envelope, Freshness, Opened, open, open_envelope, open_many, seal, seal_envelope  # noqa: E402
from .errors import *  # noqa: E402,F401,F403
from .primitives.keys import parse_secret  # noqa: E402


def __getattr__(name: str):
    """``open_store`` (and the ``replay`` subpackage) load on first use, so that ``import iotenvelope`` stays cheap
    for a one-shot seal (PEP 562)."""
    if name == "open_store":
        from .replay import open_store

        return open_store
    raise AttributeError(f"module 'iotenvelope' has no attribute {name!r}")


__all__ = ["Envelope", "Freshness", "Opened", "open", "open_envelope", "open_many", "seal", "seal_envelope",
           "parse_secret", "open_store", "__version__"]
