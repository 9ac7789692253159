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

_LAZY = {"IngestApp": "app", "make_app": "app", "Keyring": "keyring"}


def __getattr__(name: str):
    """The service's modules load on first use (PEP 562): ``iotenvelope serve --help`` and a one-shot seal build
    the CLI parser without the WSGI app and its database clients."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iotenvelope.ingest' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

__all__ = ["IngestApp", "make_app", "Keyring"]
