"""cipher.ChainedCbc: long-lived CBC contexts give the bytes of a fresh CBC object, under threads and forks.

Every result is checked against a new pycryptodome ``AES.new(key, MODE_CBC, iv)``, which knows nothing of
the contexts. The whole file also runs in a child process on the other AES backend
(``test_this_file_passes_on_the_other_backend``), so both of ChainedCbc's code paths are covered.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from Crypto.Cipher import AES
from hypothesis import given, settings
from hypothesis import strategies as st

from iotenvelope.primitives import cipher

KEYS = [bytes(range(16)), bytes(range(24)), bytes(range(32))]


def _check_fresh(key: bytes, data: bytes, out: bytes) -> bytes:
    """``out`` is IV ‖ CBC(IV, data); returns the IV."""
    assert len(out) == 16 + len(data)
    assert AES.new(key, AES.MODE_CBC, bytes(out[:16])).decrypt(bytes(out[16:])) == data
    return bytes(out[:16])


@settings(max_examples=150)
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.integers(1, 6).flatmap(
    lambda n: st.binary(min_size=16 * n, max_size=16 * n))), min_size=1, max_size=10))
def test_encrypt_fresh_is_cbc_under_the_iv_it_returns(messages):
    for key, data in messages:  # one context per key, whatever came before on it
        _check_fresh(key, data, cipher.cbc(key).encrypt_fresh(data))


def test_encrypt_fresh_never_repeats_an_iv_and_leaves_given_iv_encryption_alone():
    key = KEYS[0]
    data = bytes(32)
    ivs = {_check_fresh(key, data, cipher.cbc(key).encrypt_fresh(data)) for _ in range(2000)}
    assert len(ivs) == 2000
    iv = bytes(range(16))
    assert cipher.cbc(key).encrypt(iv, data) == AES.new(key, AES.MODE_CBC, iv).encrypt(data)
    cipher.cbc(key).encrypt_fresh(data)
    assert cipher.cbc(key).encrypt(iv, data) == AES.new(key, AES.MODE_CBC, iv).encrypt(data)


@settings(max_examples=150)
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.binary(min_size=16, max_size=16), st.integers(1, 6).flatmap(
    lambda n: st.binary(min_size=16 * n, max_size=16 * n))), min_size=1, max_size=10))
def test_decrypt_joined_and_decrypt_are_cbc_decryption(messages):
    for key, iv, ct in messages:
        want = AES.new(key, AES.MODE_CBC, iv).decrypt(ct)
        assert cipher.cbc(key).decrypt_joined(iv + ct) == want
        assert cipher.cbc(key).decrypt(iv, ct) == want
        assert type(cipher.cbc(key).decrypt_joined(iv + ct)) is bytes


@settings(max_examples=300)
@given(key=st.sampled_from(KEYS), iv=st.binary(min_size=16, max_size=16), body=st.binary(max_size=70),
       last=st.binary(min_size=16, max_size=16), valid=st.booleans())
def test_decrypt_unpad_removes_exactly_a_valid_pkcs7_padding(key, iv, body, last, valid):
    """decrypt_unpad gives what CBC decryption then strict PKCS#7 unpadding give, as bytes, and refuses every
    other final block (a count of 0 or over 16, or any of the last p bytes different) with PaddingError."""
    from iotenvelope.errors import PaddingError
    from iotenvelope.primitives.padding import pkcs7_unpad
    n = 16 - len(body) % 16
    padded = body + bytes([n]) * n if valid else (body + last)[: len(body + last) // 16 * 16]
    ct = AES.new(key, AES.MODE_CBC, iv).encrypt(padded)
    try:
        want = pkcs7_unpad(padded)
    except PaddingError:
        want = None
    if want is None:
        with pytest.raises(PaddingError):
            cipher.cbc(key).decrypt_unpad(iv + ct)
    else:
        got = cipher.cbc(key).decrypt_unpad(iv + ct)
        assert got == want and type(got) is bytes


def test_decrypt_unpad_refuses_each_kind_of_bad_padding():
    from iotenvelope.errors import PaddingError
    key, iv = KEYS[0], bytes(16)
    for block in (bytes(16), bytes(15) + b"\x11", bytes(14) + b"\x01\x02", b"\x03" * 15 + b"\x10", b"\xff" * 16):
        ct = AES.new(key, AES.MODE_CBC, iv).encrypt(block)
        with pytest.raises(PaddingError, match="bad padding"):
            cipher.cbc(key).decrypt_unpad(iv + ct)
    ct = AES.new(key, AES.MODE_CBC, iv).encrypt(b"\x10" * 16)
    assert cipher.cbc(key).decrypt_unpad(iv + ct) == b""


def test_threads_sharing_one_key_get_correct_bytes():
    key = KEYS[2]
    jobs = [os.urandom(16 * (1 + i % 5)) for i in range(600)]

    def round_trip(data: bytes) -> bytes:
        out = cipher.cbc(key).encrypt_fresh(data)
        iv = _check_fresh(key, data, out)
        return cipher.cbc(key).decrypt_joined(bytes(out)) + iv

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(round_trip, jobs))
    assert [g[:-16] for g in got] == jobs
    assert len({g[-16:] for g in got}) == len(jobs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_draws_its_own_ivs():
    key = KEYS[0]
    data = bytes(48)
    cipher.cbc(key).encrypt_fresh(data)  # the context exists before the fork, with some chaining value
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one seal under the inherited context, bytes to the parent, exit at once
        try:
            os.write(write, bytes(cipher.cbc(key).encrypt_fresh(data)))
        finally:
            os._exit(0)
    os.close(write)
    child = b""
    while len(child) < 64:
        chunk = os.read(read, 64)
        if not chunk:
            break
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = bytes(cipher.cbc(key).encrypt_fresh(data))
    assert _check_fresh(key, data, child) != _check_fresh(key, data, parent)


@pytest.mark.skipif(cipher.BACKEND != "cryptography", reason="the busy-context fallback is the cryptography path's")
def test_a_busy_context_falls_back_to_a_one_off_context():
    """On a free-threaded Python a second thread inside cryptography's context gets RuntimeError from PyO3:
    the message is then done on a context of its own, with the same bytes."""
    key = KEYS[1]
    ctx = cipher.ChainedCbc(key)

    def busy(_data):
        raise RuntimeError("Already borrowed")

    ctx._fresh = ctx._dec = busy
    data, iv = os.urandom(64), os.urandom(16)
    _check_fresh(key, data, ctx.encrypt_fresh(data))
    ct = AES.new(key, AES.MODE_CBC, iv).encrypt(data)
    assert ctx.decrypt_joined(iv + ct) == data


def test_repr_names_no_key_material():
    key = bytes(range(100, 116))
    assert repr(cipher.ChainedCbc(key)) == "<ChainedCbc AES-128>"


_OTHER = {"cryptography": "pycryptodome", "pycryptodome": "cryptography"}[cipher.BACKEND]


@pytest.mark.skipif(os.environ.get("IOTENVELOPE_AES_BACKEND") is not None, reason="already the child run")
def test_this_file_passes_on_the_other_backend():
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "IOTENVELOPE_AES_BACKEND": _OTHER, "PYTHONPATH": str(root)}
    probe = subprocess.run([sys.executable, "-c", "from iotenvelope.primitives import cipher; print(cipher.BACKEND)"],
                           env=env, capture_output=True, text=True)
    assert probe.stdout.strip() == _OTHER, probe.stdout + probe.stderr  # both backends are installed in CI
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                          env=env, capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
