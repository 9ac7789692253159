#!/usr/bin/env bash
# The ingest service and the PostgreSQL store: Debian's PostgreSQL server binaries (the tests run initdb and
# pg_ctl themselves, in a temporary directory on a random loopback port, as the unprivileged 'postgres' user the
# package creates: nothing here starts a cluster), psycopg 3 (binary wheel) and gunicorn (what `serve` runs).
# curl: docs/ingest.md's five-minute backend (run by tests/test_ingest_docs.py) uses it.
# APT_PACKAGES: postgresql curl
set -euo pipefail
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "65-ingest: initdb not found (apt package postgresql)" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "65-ingest: no 'postgres' user (created by the postgresql package)" >&2; exit 1; }
command -v runuser >/dev/null || { echo "65-ingest: runuser (util-linux) is needed to run PostgreSQL as 'postgres'" >&2; exit 1; }
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1' 'gunicorn>=22'
python3 -c "import psycopg, gunicorn"
