"""Cold start: `import iotenvelope` and a one-shot CLI seal beside cryptography's Fernet, in one run (issue 16
item 2).

    python bench/cold_start.py [--json] [--repeat 21]

Every figure is a fresh interpreter (``sys.executable``), the runs of the two sides interleaved so that drift
in the machine's speed hits both alike; medians are reported, and ratios of medians (< 1 means iotenvelope
is quicker; the goal is <= 2):

- ``import_vs_fernet``: the time of the ``import iotenvelope`` statement itself, measured inside the child
  with ``time.perf_counter`` (interpreter start-up excluded), over the time of ``import cryptography.fernet``.
- ``seal_cli_vs_fernet_script``: the wall time of the whole process ``iotenvelope seal --key K --device D
  --seq 1`` (the console script pip installs: ``from iotenvelope.cli import main``) reading one ~80-byte
  reading on stdin and printing the envelope, over a Python script
  doing the same with Fernet (read stdin, ``Fernet(key).encrypt``, print the token). Interpreter start-up is
  in both.

The package is imported from this checkout (PYTHONPATH); its AES backend is whatever that interpreter has
(``cryptography`` when installed, see bench/seal_open.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READING = b'{"co2": 1223, "temp": 21.4, "hum": 48, "bat": 3.71, "rssi": -67, "uptime": 86399}'
SECRET_HEX = bytes(range(16)).hex()

_IMPORT_TIMER = ("import sys, time\nstart = time.perf_counter()\nimport {module}\n"
                 "sys.stdout.write(repr(time.perf_counter() - start))\n")
#: what the ``iotenvelope`` console script that pip installs runs (``python -m`` would add runpy's imports)
_CONSOLE_SCRIPT = "import sys\nfrom iotenvelope.cli import main\nsys.exit(main())\n"
_FERNET_SEAL = ("import sys\nfrom cryptography.fernet import Fernet\n"
                "sys.stdout.write(Fernet(sys.argv[1].encode()).encrypt(sys.stdin.buffer.read()).decode() + '\\n')\n")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both sides import from warm .pyc caches, as an installed app does
    return env


def _import_time(module: str, env: dict) -> float:
    out = subprocess.run([sys.executable, "-c", _IMPORT_TIMER.format(module=module)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def _wall(cmd: list, env: dict, stdin: bytes) -> tuple:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, input=stdin, capture_output=True, check=True)
    return time.perf_counter() - start, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=21, help="runs of each side (default 21)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    import cryptography
    from cryptography.fernet import Fernet

    env = _env()
    fernet_key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="iotenvelope-cold-") as tmp:
        script = Path(tmp) / "fernet_seal.py"
        script.write_text(_FERNET_SEAL)
        seal_cmd = [sys.executable, "-c", _CONSOLE_SCRIPT, "seal", "--key", SECRET_HEX, "--device", "sensor-01", "--seq", "1"]
        fernet_cmd = [sys.executable, str(script), fernet_key]
        # one warm-up of each: byte-compile caches, page cache
        _import_time("iotenvelope", env), _import_time("cryptography.fernet", env)
        envelope_text = _wall(seal_cmd, env, READING)[1].decode().strip()
        token = _wall(fernet_cmd, env, READING)[1].strip()
        import iotenvelope
        from iotenvelope.primitives import cipher
        assert iotenvelope.open(bytes.fromhex(SECRET_HEX), envelope_text).plaintext == READING
        assert Fernet(fernet_key.encode()).decrypt(token) == READING

        times: dict = {"import_iotenvelope": [], "import_fernet": [], "seal_cli": [], "fernet_script": []}
        for i in range(args.repeat):
            pairs = [("import_iotenvelope", lambda: _import_time("iotenvelope", env)),
                     ("import_fernet", lambda: _import_time("cryptography.fernet", env)),
                     ("seal_cli", lambda: _wall(seal_cmd, env, READING)[0]),
                     ("fernet_script", lambda: _wall(fernet_cmd, env, READING)[0])]
            for name, run in (pairs if i % 2 == 0 else pairs[::-1]):
                times[name].append(run())

    med = {name: statistics.median(values) for name, values in times.items()}
    report = {
        "benchmark": "cold_start",
        "import_vs_fernet": round(med["import_iotenvelope"] / med["import_fernet"], 3),
        "seal_cli_vs_fernet_script": round(med["seal_cli"] / med["fernet_script"], 3),
        "goal_max_ratio": 2.0,
        "median_ms": {name: round(value * 1e3, 2) for name, value in med.items()},
        "backend": cipher.BACKEND, "cryptography": cryptography.__version__,
        "python": platform.python_version(), "repeat": args.repeat,
    }
    report["met"] = report["import_vs_fernet"] <= 2.0 and report["seal_cli_vs_fernet_script"] <= 2.0
    if args.json:
        print(json.dumps(report))
    else:
        m = report["median_ms"]
        print(f"cold start, medians of {args.repeat} fresh interpreters (Python {report['python']}, "
              f"cryptography {report['cryptography']}, AES on {report['backend']})")
        print(f"  import iotenvelope     {m['import_iotenvelope']:8.2f} ms   import cryptography.fernet {m['import_fernet']:8.2f} ms"
              f"   ratio {report['import_vs_fernet']:.2f} (goal <= 2)")
        print(f"  iotenvelope seal (CLI) {m['seal_cli']:8.2f} ms   Fernet one-shot script     {m['fernet_script']:8.2f} ms"
              f"   ratio {report['seal_cli_vs_fernet_script']:.2f} (goal <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
