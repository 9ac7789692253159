"""Counters and a store-latency histogram, rendered as Prometheus text (``GET /metrics``).

Counts are per process: under gunicorn with several workers each worker answers with its own counts (scrape
each, or read them as a sample). The stored readings themselves are in the database, which is the total.
"""

from __future__ import annotations

import threading

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.accepted = 0
        self.resync_answered = 0
        self.commands_queued = 0
        self.down_sent = 0
        self.down_repushed = 0
        self.down_push_failed = 0
        self.down_push_limit = 0
        self.legacy_uploads = 0
        self.refused: dict[str, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def refuse(self, code: str, n: int = 1) -> None:
        with self._lock:
            self.refused[code] = self.refused.get(code, 0) + n

    def store_latency(self, seconds: float) -> None:
        with self._lock:
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1

    def render(self, extra: dict[str, float] | None = None) -> str:
        with self._lock:
            lines = [
                "# HELP iotenvelope_accepted_total Envelopes accepted and stored (readings).",
                "# TYPE iotenvelope_accepted_total counter",
                f"iotenvelope_accepted_total {self.accepted}",
                "# HELP iotenvelope_refused_total Envelopes and requests refused, by SPEC error code.",
                "# TYPE iotenvelope_refused_total counter",
            ]
            lines += [f'iotenvelope_refused_total{{code="{code}"}} {n}' for code, n in sorted(self.refused.items())]
            lines += [
                "# HELP iotenvelope_resync_answered_total Resync requests answered.",
                "# TYPE iotenvelope_resync_answered_total counter",
                f"iotenvelope_resync_answered_total {self.resync_answered}",
                "# HELP iotenvelope_commands_queued_total Down commands queued.",
                "# TYPE iotenvelope_commands_queued_total counter",
                f"iotenvelope_commands_queued_total {self.commands_queued}",
                "# HELP iotenvelope_down_envelopes_sent_total Down envelopes put into uplink responses.",
                "# TYPE iotenvelope_down_envelopes_sent_total counter",
                f"iotenvelope_down_envelopes_sent_total {self.down_sent}",
                ("# HELP iotenvelope_lorawan_repushes_total LoRaWAN down frames pushed again (not acknowledged in"
                 " time; also in down_envelopes_sent)."),
                "# TYPE iotenvelope_lorawan_repushes_total counter",
                f"iotenvelope_lorawan_repushes_total {self.down_repushed}",
                ("# HELP iotenvelope_lorawan_push_failures_total Pushes the network server's downlink API refused or"
                 " did not answer (retried on a later uplink)."),
                "# TYPE iotenvelope_lorawan_push_failures_total counter",
                f"iotenvelope_lorawan_push_failures_total {self.down_push_failed}",
                ("# HELP iotenvelope_lorawan_push_limit_reached_total LoRaWAN commands given their last allowed push"
                 " (not pushed again unless the limit is raised)."),
                "# TYPE iotenvelope_lorawan_push_limit_reached_total counter",
                f"iotenvelope_lorawan_push_limit_reached_total {self.down_push_limit}",
                "# HELP iotenvelope_legacy_uploads_total Unauthenticated co2logserver-style uploads stored.",
                "# TYPE iotenvelope_legacy_uploads_total counter",
                f"iotenvelope_legacy_uploads_total {self.legacy_uploads}",
                "# HELP iotenvelope_store_seconds Time of one store transaction (window update + writes + commit).",
                "# TYPE iotenvelope_store_seconds histogram",
            ]
            lines += [f'iotenvelope_store_seconds_bucket{{le="{b}"}} {n}' for b, n in zip(BUCKETS, self.buckets)]
            lines += [f'iotenvelope_store_seconds_bucket{{le="+Inf"}} {self.latency_count}',
                      f"iotenvelope_store_seconds_sum {self.latency_sum:.6f}",
                      f"iotenvelope_store_seconds_count {self.latency_count}"]
            for name, value in (extra or {}).items():
                lines += [f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"
