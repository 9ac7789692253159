"""Envelope v1 (SPEC.md): the fields, their encodings and seal/open.

Where each byte comes from:
  * header + MAC input ..... :meth:`fields.Envelope.mac_input` (SPEC.md §4)
  * K_enc / K_mac .......... :func:`iotenvelope.primitives.kdf.envelope_keys` (SPEC.md §2.2)
  * ct ..................... :func:`iotenvelope.primitives.cipher.encrypt` (AES-CBC + PKCS#7)
  * tag .................... HMAC-SHA-256 truncated to 16 bytes (:func:`iotenvelope.primitives.mac.tag`; the hot path
                             keeps the key's states in :class:`iotenvelope.primitives.keycache.DeviceKeys`)
  * compact / JSON text .... :meth:`fields.Envelope.to_compact` / :meth:`fields.Envelope.to_json` (SPEC.md §5)
  * seal / open ............ :mod:`.sealing`
"""

from .fields import *  # noqa: F401,F403
from .fields import _check_kind, _check_u32, _bad_format  # noqa: F401
from .freshness import Freshness  # noqa: F401
from .sealing import *  # noqa: F401,F403
from .sealing import _lookup, _as_secret  # noqa: F401
