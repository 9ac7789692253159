"""Fernet keys: exactly what Fernet.generate_key() prints, nothing the lenient stdlib decoder would let by."""

import base64

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, strategies as st

from iotenvelope.profiles import fernet_token as fernet
from iotenvelope.errors import KeyFormatError


@given(st.binary(min_size=32, max_size=32))
def test_parse_key_reads_every_canonical_key(raw):
    text = base64.urlsafe_b64encode(raw)
    assert fernet.parse_key(text) == raw
    assert fernet.parse_key(" " + text.decode() + "\n") == raw  # as read from a file


def test_parse_key_agrees_with_cryptography():
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(b"reading")
    assert fernet.decrypt(fernet.parse_key(key), token, ttl=None) == b"reading"


KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("text,needle", [
    (KEY[:-1], "43 characters"),                       # '=' dropped
    (KEY[:10] + "!" + KEY[11:], "not url-safe base64"),  # the stdlib's urlsafe_b64decode skips the '!' ...
    (KEY[:10] + "\n" + KEY[10:-1], "not url-safe base64"),  # ... and a line break inside the key
    (KEY[:-2] + "B=", "canonical"),                    # trailing bits set: another spelling of other bytes
    (KEY[:-1] + "A", "canonical"),                     # 33 bytes
    ("é" * 44, "non-ASCII"),
    ("", "0 characters"),
])
def test_parse_key_refuses_what_the_lenient_decoder_would_accept(text, needle):
    with pytest.raises(KeyFormatError, match=needle) as info:
        fernet.parse_key(text)
    assert KEY not in str(info.value)
