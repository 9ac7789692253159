"""Known answers for the primitives: NIST SP 800-38A, RFC 4231, RFC 5869, and the openssl CLI."""

import hashlib
import hmac
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from Crypto.Cipher import AES
from hypothesis import given, settings
from hypothesis import strategies as st

from iotenvelope.primitives import b64, cipher, kdf, keys, openssl, padding
from iotenvelope.errors import KeyFormatError, MalformedError, PaddingError

# NIST SP 800-38A F.2.1 / F.2.5 (CBC-AES128 / CBC-AES256 encrypt), four blocks, no padding.
SP800_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
SP800_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SP800 = [
    ("2b7e151628aed2a6abf7158809cf4f3c",
     "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
     "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"),
    ("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
     "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
     "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"),
]


@pytest.mark.parametrize("key,ct", SP800)
def test_cbc_sp800_38a(key, ct):
    key = bytes.fromhex(key)
    assert cipher.encrypt_raw(key, SP800_IV, SP800_PLAIN).hex() == ct
    assert cipher.decrypt_raw(key, SP800_IV, bytes.fromhex(ct)) == SP800_PLAIN


@pytest.mark.parametrize("key,ct", SP800)
def test_cbc_sp800_38a_after_other_messages_under_the_same_key(key, ct):
    # cipher.encrypt_raw reuses one CBC object per key (its chaining value is the previous message's last
    # block): the known answer must not depend on what was encrypted before.
    key = bytes.fromhex(key)
    for filler in (b"\xff" * 16, bytes(range(48)), SP800_PLAIN):
        cipher.encrypt_raw(key, bytes(reversed(SP800_IV)), filler)
        assert cipher.encrypt_raw(key, SP800_IV, SP800_PLAIN).hex() == ct
    kdf.clear_caches()
    assert cipher.encrypt_raw(key, SP800_IV, SP800_PLAIN).hex() == ct


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([bytes(16), bytes(range(24)), bytes(range(32))]), st.binary(min_size=16, max_size=16),
                          st.integers(0, 6).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n))), min_size=1, max_size=8))
def test_cbc_encrypt_matches_a_fresh_pycryptodome_cbc_object(messages):
    for key, iv, data in messages:
        assert cipher.encrypt_raw(key, iv, data) == AES.new(key, AES.MODE_CBC, iv).encrypt(data)


def test_cbc_encrypt_shared_key_across_threads():
    key = bytes(range(16))
    jobs = [(os.urandom(16), os.urandom(16 * (1 + i % 5))) for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda job: cipher.encrypt_raw(key, *job), jobs))
    assert got == [AES.new(key, AES.MODE_CBC, iv).encrypt(data) for iv, data in jobs]


def test_cbc_rejects_keys_and_ivs_of_the_wrong_type():
    for key, iv in ((None, bytes(16)), ("00" * 16, bytes(16)), (bytes(16), None), (bytes(16), 7)):
        with pytest.raises(KeyFormatError, match="must be bytes"):
            cipher.encrypt(key, iv, b"x")
        with pytest.raises(KeyFormatError, match="must be bytes"):
            cipher.decrypt(key, iv, bytes(16))


def test_cbc_pkcs7_full_block_and_strict_unpad():
    key, iv = bytes(16), bytes(16)
    ct = cipher.encrypt(key, iv, b"0123456789abcdef")
    assert len(ct) == 32
    assert cipher.decrypt_raw(key, iv, ct)[16:] == b"\x10" * 16
    assert cipher.decrypt(key, iv, ct) == b"0123456789abcdef"
    with pytest.raises(MalformedError, match="empty"):
        cipher.decrypt(key, iv, b"")
    with pytest.raises(MalformedError, match="multiple of 16"):
        cipher.decrypt(key, iv, ct[:-1])
    with pytest.raises(KeyFormatError, match="20 bytes"):
        cipher.encrypt(bytes(20), iv, b"x")
    with pytest.raises(KeyFormatError, match="IV is 8 bytes"):
        cipher.encrypt(key, bytes(8), b"x")


@pytest.mark.parametrize("tail", [b"\x00", b"\x11", b"\x03\x03\x02", b"\x01\x02", b"\x10" * 15 + b"\x0f"])
def test_pkcs7_rejects(tail):
    block = b"A" * (16 - len(tail)) + tail
    with pytest.raises(PaddingError):
        padding.pkcs7_unpad(block)


@pytest.mark.parametrize("n", range(0, 33))
def test_pkcs7_roundtrip_every_length(n):
    data = bytes(range(n))
    padded = padding.pkcs7_pad(data)
    assert len(padded) % 16 == 0 and padded[-1] == 16 - n % 16
    assert padding.pkcs7_unpad(padded) == data


# RFC 4231 HMAC-SHA-256 test cases 1, 2, 3, 4, 6 and 7.
RFC4231 = [
    ("0b" * 20, b"Hi There".hex(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe".hex(), b"what do ya want for nothing?".hex(),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ("aa" * 20, "dd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    ("0102030405060708090a0b0c0d0e0f10111213141516171819", "cd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    ("aa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First".hex(),
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ("aa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. "
                 b"The key needs to be hashed before being used by the HMAC algorithm.".hex(),
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize("key,data,mac", RFC4231)
def test_hmac_rfc4231(key, data, mac):
    assert hmac.digest(bytes.fromhex(key), bytes.fromhex(data), "sha256").hex() == mac


def test_hkdf_rfc5869_case1_and_3():
    okm1 = ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    out = kdf.hkdf_sha256(bytes.fromhex("0b" * 22), bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 32,
                          salt=bytes.fromhex("000102030405060708090a0b0c"))
    assert out.hex() == okm1[:64]
    okm3 = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    assert kdf.hkdf_sha256(bytes.fromhex("0b" * 22), b"", 32).hex() == okm3[:64]


def test_envelope_keys_match_pycryptodome_hkdf():
    from Crypto.Hash import SHA256
    from Crypto.Protocol.KDF import HKDF
    secret = bytes(range(32))
    k_enc, k_mac = kdf.envelope_keys(secret)
    assert k_enc == HKDF(secret, 32, b"", SHA256, context=b"iotenvelope v1 enc")
    assert k_mac == HKDF(secret, 32, b"", SHA256, context=b"iotenvelope v1 mac")
    assert len(kdf.envelope_keys(secret[:16])[0]) == 16
    with pytest.raises(KeyFormatError):
        kdf.envelope_keys(bytes(24))


def _openssl_p(*args):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is missing: run .ci/install")
    out = subprocess.run(["openssl", "enc", "-P", "-pass", "pass:correct horse", *args], capture_output=True,
                         text=True, check=True).stdout
    fields = {}
    for line in out.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip()] = value.strip().split("*")[0]
    return bytes.fromhex(fields["key"]), bytes.fromhex(fields["iv"])


@pytest.mark.parametrize("cipher_name,key_len,md", [("-aes-256-cbc", 32, "md5"), ("-aes-128-cbc", 16, "md5"),
                                                    ("-aes-256-cbc", 32, "sha256"), ("-aes-192-cbc", 24, "sha1")])
def test_evp_bytes_to_key_matches_openssl(cipher_name, key_len, md):
    salt = bytes.fromhex("0102030405060708")
    key, iv = _openssl_p(cipher_name, "-md", md, "-S", salt.hex())
    assert kdf.evp_bytes_to_key("correct horse", salt, key_len, 16, md) == (key, iv)


def test_pbkdf2_matches_openssl():
    salt = bytes.fromhex("a1a2a3a4a5a6a7a8")
    key, iv = _openssl_p("-aes-256-cbc", "-pbkdf2", "-iter", "1000", "-md", "sha256", "-S", salt.hex())
    assert kdf.pbkdf2("correct horse", salt, 1000, 48, "sha256") == key + iv


def test_evp_iterations_chain_digest():
    # count > 1 re-hashes each block; with count=1 the first block is H(password ‖ salt)
    salt = b"saltsalt"
    one = kdf.evp_bytes_to_key(b"pw", salt, 16, 0, "md5", 1)[0]
    two = kdf.evp_bytes_to_key(b"pw", salt, 16, 0, "md5", 2)[0]
    assert one == hashlib.md5(b"pwsaltsalt").digest()
    assert two == hashlib.md5(one).digest()
    with pytest.raises(KeyFormatError):
        kdf.evp_bytes_to_key(b"pw", b"short", 16, 16)


def test_salted_format_roundtrip_with_openssl_cli(tmp_path):
    salt = bytes.fromhex("1122334455667788")
    key, iv = kdf.evp_bytes_to_key("pw", salt, 32, 16, "md5")
    blob = openssl.pack(salt, cipher.encrypt(key, iv, b"hello openssl"))
    src = tmp_path / "in.txt"
    src.write_text(b64.encode_std(blob))
    out = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass", "pass:pw",
                          "-in", str(src)], capture_output=True, check=True).stdout
    assert out == b"hello openssl"
    with pytest.raises(MalformedError, match="Salted__"):
        openssl.unpack(b"not salted at all!")


def test_base64_variants():
    raw = bytes(range(250, 256)) + b"\xfb\xff"
    assert b64.decode_url(b64.encode_url(raw)) == raw
    assert b64.decode_std(b64.encode_std(raw)) == raw
    wrapped = "\n".join(b64.encode_std(bytes(100))[i:i + 64] for i in range(0, 136, 64)) + "\n"
    assert b64.decode_std(wrapped, allow_newlines=True) == bytes(100)
    with pytest.raises(MalformedError, match="line break"):
        b64.decode_std(wrapped)
    with pytest.raises(MalformedError, match="padding missing"):
        b64.decode_std("QUJD" + "QQ")
    with pytest.raises(MalformedError, match="url-safe"):
        b64.decode_std("-_-_")
    with pytest.raises(MalformedError, match="'=' padding is not used"):
        b64.decode_url("QQ==")
    with pytest.raises(MalformedError, match="standard alphabet"):
        b64.decode_url("ab+/")
    with pytest.raises(MalformedError, match="non-canonical"):
        b64.decode_url("QR")
    with pytest.raises(MalformedError, match="impossible length"):
        b64.decode_url("QUJDR")
    assert b64.decode_any("+/8=") == b64.decode_any("-_8") == b"\xfb\xff"


def test_key_parsing():
    assert keys.parse_aes_key("00" * 16) == bytes(16)
    assert keys.parse_aes_key("b64:" + b64.encode_std(bytes(32))) == bytes(32)
    assert keys.parse_secret("0x" + "ab" * 32) == b"\xab" * 32
    for bad, msg in (("00" * 20, "20 bytes; must be 16, 24, 32"), ("zz" * 16, "not hex"), ("abc", "odd number"),
                     ("", "empty"), ("b64:@@@@", "invalid character")):
        with pytest.raises(KeyFormatError, match=msg):
            keys.parse_aes_key(bad)
    with pytest.raises(KeyFormatError, match="must be 16, 32"):
        keys.parse_secret("00" * 24)


from hypothesis import given, strategies as st  # noqa: E402


@given(key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       iv=st.binary(min_size=16, max_size=16), blocks=st.integers(1, 20), data=st.data())
def test_cbc_decrypt_equals_pycryptodome_cbc_object(key, iv, blocks, data):
    from Crypto.Cipher import AES
    ct = data.draw(st.binary(min_size=16 * blocks, max_size=16 * blocks))
    assert cipher.decrypt_raw(key, iv, ct) == AES.new(key, AES.MODE_CBC, iv).decrypt(ct)


def test_envelope_keys_are_remembered_until_caches_are_cleared():
    secret = bytes(range(32))
    first = kdf.envelope_keys(secret)
    assert kdf.envelope_keys(bytearray(secret)) is first
    kdf.clear_caches()
    again = kdf.envelope_keys(secret)
    assert again == first and again is not first
    with pytest.raises(KeyFormatError, match="must be bytes"):
        kdf.envelope_keys("00" * 16)


@pytest.mark.parametrize("bad", [None, 1.5, "0" * 16, ["x"], memoryview(bytes(16))])
def test_cbc_rejects_data_of_the_wrong_type(bad):
    key, iv = bytes(16), bytes(16)
    for call in (cipher.encrypt_raw, cipher.decrypt_raw, cipher.decrypt):
        with pytest.raises(MalformedError, match="must be bytes"):
            call(key, iv, bad)


@settings(max_examples=300)
@given(st.binary(max_size=100), st.binary(max_size=300))
def test_envelope_mac_equals_stdlib_hmac(key, data):
    # iotenvelope.primitives.mac keeps the SHA-256 states of the padded key per key; same bytes as the hmac module
    from iotenvelope.primitives import mac
    assert mac.hmac_sha256(key, data) == hmac.digest(key, data, "sha256")
    assert mac.tag(key, data) == hmac.digest(key, data, "sha256")[:16]
    assert mac.hmac_sha256(key, data) == hmac.digest(key, data, "sha256")  # again, from the cached states


def test_envelope_mac_rfc4231_case_2_and_6():
    from iotenvelope.primitives import mac
    assert mac.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert mac.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First").hex() == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ABCab01-_+/= \n\r\t\x00é", max_size=16) | st.binary(max_size=16))
def test_decode_url_fast_path_decides_as_the_strict_slow_path(text):
    """b64.decode_url's strict_mode fast path (Python >= 3.11) accepts exactly what the regex path accepts."""
    def run():
        try:
            return b64.decode_url(text)
        except MalformedError:
            return "refused"
    fast = run()
    saved, b64._STRICT = b64._STRICT, False
    try:
        slow = run()
    finally:
        b64._STRICT = saved
    assert fast == slow
