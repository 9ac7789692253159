"""The ingest service (``iotenvelope serve``): an HTTP backend that opens devices' envelopes and stores each
distinct reading exactly once, in the same database transaction as the replay-window update.

* :mod:`.contract` ..... the HTTP statuses and JSON bodies scripts depend on (docs/ingest.md)
* :mod:`.keyring` ...... the device keyring file, rotation (several secrets per device), reload on change
* :mod:`.tables` ....... the service's tables (readings, commands, legacy uploads) beside the replay state
* :mod:`.downlink` ..... queued commands, sealed down envelopes in the next uplink's response, acknowledgement
* :mod:`.metrics` ...... Prometheus text for ``/metrics``
* :mod:`.logs` ......... one structured log line per refusal (no secrets, no plaintext; untrusted text quoted)
* :mod:`.lorawan` ...... The Things Stack v3 and ChirpStack v4 uplink webhooks, downlinks in their shapes
* :mod:`.app` .......... the WSGI application (:func:`make_app`; gunicorn: ``iotenvelope.ingest.app:application``)
* :mod:`.server` ....... ``iotenvelope serve``: the app under gunicorn
"""

from .app import IngestApp, make_app  # noqa: F401
from .keyring import Keyring  # noqa: F401

__all__ = ["IngestApp", "make_app", "Keyring"]
