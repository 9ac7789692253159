"""``iotenvelope serve``: the ingest app under gunicorn (pre-fork workers, graceful reload).

Signals (gunicorn's): SIGHUP starts new workers (which read the keyring afresh) and retires the old ones
after their requests finished, so a reload drops no request; SIGTERM is a graceful stop, SIGINT/SIGQUIT quick.
Each worker also re-reads the keyring file by itself within a second of it changing.
"""

from __future__ import annotations

import sys

from ..errors import UsageError


def run(app_kwargs: dict, *, host: str, port: int, workers: int, threads: int, timeout: int,
        access_log: str | None = None) -> int:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise UsageError("iotenvelope serve needs gunicorn (pip install 'iotenvelope[serve]')") from None
    from .app import make_app

    # Fail here, with the library's error and exit code, rather than in every worker: the keyring must
    # parse and the store must open (creating its tables) before anything listens.
    probe = make_app(**app_kwargs)
    probe.store()
    probe.close()

    class _Gunicorn(BaseApplication):
        def load_config(self):
            for name, value in {"bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
                                "workers": workers, "threads": threads, "timeout": timeout,
                                "graceful_timeout": 30, "accesslog": access_log, "errorlog": "-",
                                "loglevel": "info", "proc_name": "iotenvelope-serve",
                                "worker_class": "gthread" if threads > 1 else "sync"}.items():
                self.cfg.set(name, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: one shared socket path
                self.cfg.set("control_socket_disable", True)   # per user would collide between services

        def load(self):
            return make_app(**app_kwargs)

    try:
        _Gunicorn().run()
    except SystemExit as exc:  # gunicorn exits through SystemExit (e.g. the port is taken)
        code = exc.code if isinstance(exc.code, int) else 1
        if code:
            raise UsageError(
                f"gunicorn could not serve on {host}:{port} (status {code}; see its log above)") from None
    return 0


def configure_logging() -> None:
    import logging
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("iotenvelope.ingest")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


# -- CLI: `iotenvelope serve` -------------------------------------------------------------------------------
def add_parser(sub) -> None:
    from ..replay import DEFAULT_WINDOW
    p = sub.add_parser("serve", help="run the ingest HTTP service (docs/ingest.md)",
                       description="Open devices' envelopes over HTTP and store each distinct reading exactly once"
                                   " (reading and replay window in one transaction). Contract: docs/ingest.md.")
    p.add_argument("--db", required=True, metavar="URL", help="sqlite:///path.db (one host) or postgresql://..."
                                                              " (several hosts)")
    p.add_argument("--keyring", required=True, metavar="FILE",
                   help='JSON {"device": "secret"} or {"device": ["new", "old"]} (rotation); reloaded on change'
                        " and on SIGHUP")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per worker (default 1)")
    p.add_argument("--timeout", type=int, default=30, help="worker timeout in seconds (default 30)")
    p.add_argument("--api-token-file", metavar="FILE",
                   help="file holding the bearer token of the operator API (readings, commands); without it that"
                        " API is refused")
    p.add_argument("--legacy-upload-salt", action="append", default=[], metavar="SALT",
                   help="enable the co2logserver-compatible POST /upload (UNAUTHENTICATED-REPLAYABLE: salted"
                        " hashes of the body, no replay defence); repeatable")
    p.add_argument("--replay-window", type=int, default=DEFAULT_WINDOW, metavar="N",
                   help=f"replay window (default {DEFAULT_WINDOW}; every process sharing the db must agree)")
    p.add_argument("--skew", type=int, default=300, help="allowed clock skew, seconds (default 300)")
    p.add_argument("--max-age", type=int, default=86400, help="refuse older envelopes; 0 disables (default 86400)")
    p.add_argument("--require-time", action="store_true", help="refuse ts=0 (device time unknown)")
    p.add_argument("--access-log", metavar="FILE", help="gunicorn access log ('-' for stderr; default none)")
    p.add_argument("--ttn-push-url", metavar="URL", help="The Things Stack downlink push URL template, e.g."
                   " https://eu1.cloud.thethings.network/api/v3/as/applications/{application_id}/webhooks/WEBHOOK"
                   "/devices/{device_id}/down/push")
    p.add_argument("--ttn-api-key-file", metavar="FILE", help="file with The Things Stack API key (traffic write)")
    p.add_argument("--chirpstack-queue-url", metavar="URL", help="ChirpStack v4 REST queue URL template, e.g."
                   " http://chirpstack:8090/api/devices/{dev_eui}/queue")
    p.add_argument("--chirpstack-api-key-file", metavar="FILE", help="file with the ChirpStack API token")
    p.add_argument("--lorawan-fport", type=int, default=10, help="FPort of pushed downlinks (default 10)")
    p.add_argument("--lorawan-device-map", metavar="FILE",
                   help='JSON {"ttn:<device_id>" | "chirpstack:<devEui>": "<keyring id>"} (default: same id)')
    from .downlink import LORAWAN_MAX_PUSHES, LORAWAN_REPUSH_AFTER
    p.add_argument("--lorawan-repush-after", type=float, default=LORAWAN_REPUSH_AFTER, metavar="SECONDS",
                   help="push an unacknowledged command's frame again (the very same frame) on the device's first"
                        f" uplink at least SECONDS after its last push (default {LORAWAN_REPUSH_AFTER}). Class A: an"
                        " ack comes 2 uplinks after a push at the earliest, so keep it above 3 uplink intervals")
    p.add_argument("--lorawan-max-pushes", type=int, default=LORAWAN_MAX_PUSHES, metavar="N",
                   help=f"pushes per command in all, the first included (default {LORAWAN_MAX_PUSHES}; 1: push once);"
                        " after the last one an unacknowledged command is listed as push-limit")


def cmd_serve(opts) -> int:
    from ..envelope import Freshness
    from .app import read_token
    for name in ("port", "workers", "threads", "timeout"):
        value = getattr(opts, name)
        if not (0 < value < 65536 if name == "port" else value >= 1):
            raise UsageError(f"--{name} {value} is out of range")
    configure_logging()
    fresh = Freshness(skew=opts.skew, max_age=opts.max_age or None, allow_unknown_time=not opts.require_time)
    from .lorawan import Push, check_max_pushes, check_repush_after, load_device_map
    repush_after, max_pushes = check_repush_after(opts.lorawan_repush_after), check_max_pushes(opts.lorawan_max_pushes)
    pushes = {}
    for name, url, key_file in (("ttn", opts.ttn_push_url, opts.ttn_api_key_file),
                                ("chirpstack", opts.chirpstack_queue_url, opts.chirpstack_api_key_file)):
        if bool(url) != bool(key_file):
            raise UsageError(f"--{name}-... needs both the URL and the API key file")
        if url:
            if not 1 <= opts.lorawan_fport <= 223:
                raise UsageError("--lorawan-fport must be 1..223")
            pushes[name] = Push(url, read_token(key_file), opts.lorawan_fport)
    kwargs = dict(db=opts.db, keyring=opts.keyring, api_token=read_token(opts.api_token_file),
                  legacy_salts=opts.legacy_upload_salt, window=opts.replay_window, freshness=fresh,
                  lorawan_pushes=pushes, lorawan_map=load_device_map(opts.lorawan_device_map),
                  lorawan_repush_after=repush_after, lorawan_max_pushes=max_pushes)
    return run(kwargs, host=opts.host, port=opts.port, workers=opts.workers, threads=opts.threads,
               timeout=opts.timeout, access_log=opts.access_log)
