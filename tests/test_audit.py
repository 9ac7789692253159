"""Audit tests: bad input at every public entry point ends in an IotEnvelopeError (in process) or in a
documented exit code without a traceback (CLI); no secret is echoed in a message."""

import os
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from iotenvelope.errors import IotEnvelopeError, UsageError
from iotenvelope.replay import open_store

KEY = "00112233445566778899aabbccddeeff"
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- replay store URLs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["redis://:hunter2@[::1", "redis://:hunter2@127.0.0.1:99999/0",
                                 "rediss://u:hunter2@h:abc/0", "unix://:hunter2@[/x", "bogus://:hunter2@[::1",
                                 "memory://:hunter2@h", "sqlite:///tmp/x.db%00"])
def test_bad_store_url_is_a_usage_error_without_the_password(url):
    with pytest.raises(UsageError) as info:
        open_store(url)
    assert "hunter2" not in str(info.value)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """A scratch directory that is also the cwd, so relative sqlite: URLs create their files there."""
    path, cwd = tmp_path_factory.mktemp("stores"), os.getcwd()
    os.chdir(path)
    yield path
    os.chdir(cwd)


@FUZZ
@given(scheme=st.sampled_from(["redis://", "rediss://", "unix://", "sqlite:", "sqlite:///{dir}/", "memory:",
                               "x://"]),
       rest=st.text(alphabet=string.printable + "[]@:%\x00é", max_size=30))
def test_store_url_fuzz_raises_only_library_errors(store_dir, scheme, rest):
    try:
        store = open_store(scheme.format(dir=store_dir) + rest)
    except IotEnvelopeError:
        return
    store.close()


@pytest.mark.parametrize("command", ["open", "resync"])
def test_cli_bad_store_url_exits_2_without_traceback_or_password(cli, command):
    proc = cli(command, "--key", KEY, "--replay-store", "redis://:hunter2@[::1", stdin=b"x")
    assert proc.returncode == 2
    assert b"hunter2" not in proc.stderr and b"replay store URL" in proc.stderr


# -- deeply nested or non-UTF-8-representable JSON -----------------------------------------------------------
DEEP = b"[" * 100_000


@pytest.mark.parametrize("args", [["open", "--profile", "dweeter", "--passphrase", "pw"],
                                  ["seal", "--profile", "dweeter", "--passphrase", "pw", "--mailbox", "m"],
                                  ["open", "--profile", "esp8266-b64", "--key", KEY],
                                  ["open", "--format", "json", "--key", KEY],
                                  ["diagnose", "--passphrase", "pw"]])
def test_cli_deeply_nested_json_is_malformed_or_unexplained(cli, args):
    proc = cli(*args, stdin=DEEP)
    assert proc.returncode in ({1} if args[0] == "diagnose" else {3})


def test_keyring_deeply_nested_is_a_key_format_error(tmp_path):
    from iotenvelope.errors import KeyFormatError
    from iotenvelope.profiles.envelope_v1 import load_keyring
    path = tmp_path / "ring.json"
    path.write_bytes(DEEP)
    with pytest.raises(KeyFormatError):
        load_keyring(str(path))


def _dweet(data, **outer):
    from iotenvelope.profiles import dweeter
    msg = dweeter.seal_data(data, "pw", "box", 1_700_000_000)
    return {**msg, **outer}


@pytest.mark.parametrize("msg", [_dweet({"a": "\ud800"}), _dweet({"a": 1}, created="\udc80"),
                                 _dweet({"a": 1}, thing="\udfff")])
@pytest.mark.parametrize("extra", [[], ["--json"], ["--batch"]])
def test_dweeter_lone_surrogates_are_malformed(cli, msg, extra):
    import json
    proc = cli("open", "--profile", "dweeter", "--passphrase", "pw", *extra, stdin=json.dumps(msg).encode() + b"\n")
    assert proc.returncode == 3, proc.stderr
    assert b"lone surrogate" in (proc.stdout if extra == ["--batch"] else proc.stderr)


def test_dweeter_lone_surrogate_in_process_is_malformed():
    from iotenvelope.errors import MalformedError
    from iotenvelope.profiles import dweeter
    with pytest.raises(MalformedError):
        dweeter.open_message(_dweet({"a": "\ud800"}), "pw")
    assert dweeter.open_message(_dweet({"a": "\u00e9"}), "pw").data["a"] == "\u00e9"


# -- arguments that are not UTF-8, wrong types at the library API ------------------------------------------
NOT_UTF8 = "pass\udcffword"  # what Python makes of the argv bytes b"pass\xffword" (PEP 383)


@pytest.mark.parametrize("args", [["open", "--profile", "cryptojs-passphrase", "--passphrase", NOT_UTF8],
                                  ["seal", "--profile", "cryptojs-passphrase", "--passphrase", NOT_UTF8],
                                  ["open", "--profile", "dweeter", "--passphrase", NOT_UTF8],
                                  ["seal", "--profile", "dweeter", "--passphrase", "pw", "--mailbox", NOT_UTF8],
                                  ["auth", "sign", "--scheme", "hmac-sha256", "--secret", NOT_UTF8],
                                  ["auth", "verify", "--scheme", "hmac-sha256", "--secret", "s", "--header", NOT_UTF8],
                                  ["diagnose", "--passphrase", NOT_UTF8]])
def test_cli_non_utf8_argument_is_a_usage_error_that_does_not_echo_it(args, capsys):
    import io
    import sys
    from iotenvelope import cli
    stdin, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(b"{}"))
    try:
        assert cli.main(args) == 2
    finally:
        sys.stdin = stdin
    err = capsys.readouterr().err
    assert "not valid UTF-8" in err and "word" not in err


def test_cli_non_utf8_passphrase_from_real_argv(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    proc = subprocess.run([sys.executable.encode(), b"-m", b"iotenvelope", b"seal", b"--profile", b"cryptojs-passphrase",
                           b"--passphrase", b"pass\xffword"], input=b"hi", capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr and b"word" not in proc.stderr


@pytest.mark.parametrize("call", [
    lambda: __import__("iotenvelope.kdf", fromlist=["x"]).evp_bytes_to_key(NOT_UTF8, b"12345678", 32, 16),
    lambda: __import__("iotenvelope.profiles.dweeter", fromlist=["x"]).derive(NOT_UTF8),
    lambda: __import__("iotenvelope.httpauth", fromlist=["x"]).sign(b"body", NOT_UTF8),
    lambda: __import__("iotenvelope.httpauth", fromlist=["x"]).sign(b"body", None),
    lambda: __import__("iotenvelope.httpauth", fromlist=["x"]).sign(b"body", 5),
    lambda: __import__("iotenvelope.httpauth", fromlist=["x"]).sign(5, "s"),
    lambda: __import__("iotenvelope.httpauth", fromlist=["x"]).verify(b"body", None, "00" * 32),
    lambda: __import__("iotenvelope.httpauth", fromlist=["x"]).verify(None, "s", "00" * 32),
])
def test_library_bad_secret_or_body_raises_library_error(call):
    with pytest.raises(IotEnvelopeError) as info:
        call()
    assert "word" not in str(info.value)


# -- Fernet: values the 64-bit timestamp field cannot hold, wrong types ------------------------------------
@pytest.mark.parametrize("ts", ["-1", str(1 << 64)])
def test_cli_fernet_seal_out_of_range_ts_is_a_usage_error(cli, ts):
    import base64
    proc = cli("seal", "--profile", "fernet", "--key", base64.urlsafe_b64encode(bytes(32)).decode(), "--ts", ts,
               stdin=b"hi")
    assert proc.returncode == 2 and b"0..2**64-1" in proc.stderr


@pytest.mark.parametrize("call", [
    lambda f: f.encrypt(bytes(32), b"x", now=-1), lambda f: f.encrypt(bytes(32), b"x", now=1.5),
    lambda f: f.encrypt(bytes(32), b"x", iv=b"short"), lambda f: f.encrypt(bytes(32), None),
    lambda f: f.encrypt(None, b"x"), lambda f: f.decrypt(None, "gAAAAA"), lambda f: f.decrypt(bytes(32), None),
    lambda f: f.decrypt(bytes(32), f.encrypt(bytes(32), b"x"), ttl="5"),
    lambda f: f.decrypt(bytes(32), f.encrypt(bytes(32), b"x"), now=[]), lambda f: f.parse_key(None),
])
def test_fernet_bad_arguments_raise_library_errors(call):
    from iotenvelope import fernet
    with pytest.raises(IotEnvelopeError):
        call(fernet)


def test_fernet_negative_ttl_still_means_stale():  # unchanged behaviour: only types and the field range are new
    from iotenvelope import fernet
    from iotenvelope.errors import StaleError
    with pytest.raises(StaleError):
        fernet.decrypt(bytes(32), fernet.encrypt(bytes(32), b"x", now=100), ttl=-5, now=100)


# -- reprs leave out plaintext and key material ------------------------------------------------------------
def test_reprs_do_not_show_plaintext_or_keys():
    from iotenvelope import diagnose
    from iotenvelope.profiles import OpenResult
    from iotenvelope.profiles.dweeter import Received
    secret_bytes, plain = bytes(range(16)), b"top-secret-reading"
    reprs = [repr(OpenResult(plain, {"device": "d"})),
             repr(diagnose.Finding("cryptojs-key", 1.0, (), plain, ["--key", secret_bytes.hex()], stdin="x" * 5,
                                   message=plain)),
             repr(diagnose.RawKey(secret_bytes, (), secret_bytes)),
             repr(Received({"note": plain.decode()}, "2024-01-01T00:00:00.000Z"))]
    for text in reprs:
        assert "top-secret" not in text and secret_bytes.hex() not in text and repr(secret_bytes) not in text, text


# -- CLI contract: --help of every subcommand, the documented exit-code table ------------------------------
def test_every_subcommand_has_working_help(cli):
    from iotenvelope.cli import COMMANDS
    for command in COMMANDS:
        proc = cli(command, "--help")
        assert proc.returncode == 0, (command, proc.stderr)
        assert proc.stdout.startswith(b"usage: iotenvelope " + command.encode()), command


def test_error_classes_match_the_documented_exit_codes():
    import re
    from conftest import ROOT
    from iotenvelope import cli, errors
    documented = {"MalformedError": 3, "PaddingError": 3, "UnsupportedVersionError": 3, "KeyFormatError": 4,
                  "UnknownDeviceError": 4, "AuthenticationError": 5, "DirectionError": 5, "ReplayError": 6,
                  "DuplicateError": 6, "TooOldError": 6, "TimestampError": 7, "StaleError": 7, "FutureError": 7,
                  "TimeUnknownError": 7, "StoreError": 8, "UsageError": 2, "TransportError": 10,
                  "IotEnvelopeError": 10}
    classes = {name: getattr(errors, name) for name in errors.__all__}
    assert {name: cls.exit_code for name, cls in classes.items()} == documented
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    for code, words in [(3, "3 malformed or bad padding"), (4, "4 bad key / unknown device"),
                        (5, "5 authentication"), (6, "6 replay"), (7, "7 timestamp"), (8, "8 replay store"),
                        (10, "10 other"), (2, "2 usage")]:
        assert words in readme and f"{code} " in cli.__doc__
    assert re.search(r"3 malformed/padding, 4 bad key/unknown device,\s+5 authentication, 6 replay, 7 timestamp,"
                     r" 8 replay store, 10 other", cli.__doc__)


# -- garbage on stdin, in process through cli.main (a traceback would be an exception escaping main) -------
FERNET_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
PROFILE_ARGS = {
    "envelope-v1": ["--key", KEY], "cryptojs-passphrase": ["--passphrase", "pw"],
    "cryptojs-key": ["--key", KEY, "--iv", KEY], "esp8266-b64": ["--key", KEY],
    "spaniakos": ["--key", KEY, "--iv", KEY], "spaniakos-legacy": ["--key", KEY, "--iv", KEY],
    "dweeter": ["--passphrase", "pw"], "fernet": ["--key", FERNET_KEY],
}
GARBAGE = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=120).map(lambda b: __import__("base64").b64encode(b)),
    st.binary(max_size=120).map(lambda b: __import__("base64").urlsafe_b64encode(b"\x80" + b)),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
                     ["iv", "data", "v", "d", "content", "thing", "created", "with"]), inner, max_size=4),
                 max_leaves=12).map(lambda obj: __import__("json").dumps(obj).encode()),
)


def _main(args, stdin: bytes) -> int:
    import contextlib
    import io
    import sys
    from iotenvelope import cli
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())), contextlib.redirect_stderr(io.StringIO()):
            return cli.main(args)
    finally:
        sys.stdin = saved


@pytest.mark.parametrize("profile", sorted(PROFILE_ARGS))
@pytest.mark.parametrize("mode", [[], ["--json"], ["--batch"]])
@FUZZ
@given(stdin=GARBAGE)
def test_cli_open_garbage_exits_with_a_documented_code(profile, mode, stdin):
    assert _main(["open", "--profile", profile, *PROFILE_ARGS[profile], *mode], stdin) in DOCUMENTED_EXIT_CODES


@FUZZ
@given(stdin=GARBAGE, key=st.sampled_from([["--key", KEY], ["--passphrase", "pw"], ["--key", KEY, "--iv", KEY]]))
def test_cli_diagnose_garbage_exits_with_a_documented_code(stdin, key):
    assert _main(["diagnose", *key], stdin) in {0, 1, 3}


@FUZZ
@given(stdin=GARBAGE, header=st.text(max_size=80), scheme=st.sampled_from(["hmac-sha256", "salted-md5", "salted-sha1"]))
def test_cli_auth_verify_garbage_exits_with_a_documented_code(stdin, header, scheme):
    assert _main(["auth", "verify", "--scheme", scheme, "--secret", "s", "--header", header], stdin) in {0, 2, 3, 5}


@FUZZ
@given(stdin=GARBAGE)
def test_cli_resync_garbage_exits_with_a_documented_code(stdin):
    assert _main(["resync", "--key", KEY, "--replay-store", "memory://"], stdin) in {3, 4, 5}


def test_lead_review_followups():
    """Follow-ups of the audit: lone surrogates, wrong IV/direction types, fernet --iv, credential-free errors."""
    import iotenvelope
    from iotenvelope import upload
    from iotenvelope.errors import IotEnvelopeError, KeyFormatError, MalformedError
    secret = bytes(16)
    with pytest.raises(MalformedError, match="surrogate"):
        iotenvelope.seal(secret, "\ud800", device="d", seq=1)
    for bad_iv in (5, "00" * 16, bytes(15)):
        with pytest.raises(KeyFormatError):
            iotenvelope.seal(secret, b"x", device="d", seq=1, iv=bad_iv)
    token = iotenvelope.seal(secret, b"x", device="d", seq=1)
    for bad in ([], None, 1):
        with pytest.raises(MalformedError):
            iotenvelope.open(secret, token, direction=bad)
        with pytest.raises(MalformedError):
            iotenvelope.seal(secret, b"x", device="d", seq=1, direction=bad)
    with pytest.raises(IotEnvelopeError) as info:
        upload.upload("http://user:hunter2@127.0.0.1:9", [{"co2": 1}], "salt")
    assert "hunter2" not in str(info.value) and "user" not in str(info.value)
