#!/usr/bin/env bash
# Legacy peers for tests/test_dweeter.py, tests/test_co2logserver.py and the dweeter-pypi verify column:
# the real dweeter 0.3.0 (pulls cryptomsg, pyaes, basicdweet, requests) and co2logserver 0.1.2 (pulls Flask),
# plus msgpack for co2logserver's application/msgpack uploads. Pinned: the vectors and measured rules name
# these versions.
set -euo pipefail
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
  'dweeter==0.3.0' 'co2logserver==0.1.2' 'msgpack>=1.0' 'requests>=2'
python3 - <<'PY'
import co2logserver, dweeter, msgpack  # fail the install now rather than in the tests
PY
