"""LoRaWAN network-server webhooks (The Things Stack v3, ChirpStack v4).

Their uplinks carry lean envelopes (SPEC.md §5.3), which this version of the library does not open yet, so
no webhook endpoint is served: ``/v1/lorawan/...`` answers 404 and every command is delivered over HTTP.
"""

from __future__ import annotations


class Networks:
    def __init__(self, app):
        self.app = app

    def route_of(self, device: str) -> str:
        return "http"

    def handle(self, name: str, environ):
        from .app import Refused
        raise Refused(404, "not-found", "no LoRaWAN webhooks in this version (they need the lean form)")
