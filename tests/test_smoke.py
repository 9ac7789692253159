import iotenvelope


def test_roundtrip_known_secret():
    secret = bytes(range(16))
    token = iotenvelope.seal(secret, b"hi", device="d", seq=1, ts=1763900000, iv=bytes(16))
    assert iotenvelope.open(secret, token, freshness=None).plaintext == b"hi"
