# TEST-ONLY STAND-IN for MicroPython's `cryptolib`/`ucryptolib`. NEVER COPY THIS TO A DEVICE.
#
# The MicroPython WebAssembly build that CI runs (npm @micropython/micropython-webassembly-pyscript) is a
# real interpreter but has no cryptolib. mpnode.mjs puts this file on sys.path there, after the module
# folder, and registers `_nodehost`, whose AES is node's crypto (OpenSSL). This file adds nothing of its
# own to AES; it reproduces the interface and the restrictions of the real C module (extmod/modcryptolib.c,
# measured on MicroPython 1.18, 1.19.1 and 1.28; see DESIGN.md section 4) so that code relying on
# anything a device does not offer fails here as it would there:
#   * aes(key, mode[, iv]): two or three positional arguments, no keywords;
#   * mode 1 (ECB) or 2 (CBC) only, as plain integers: there are no MODE_* attributes and no CTR;
#   * keys of 16 or 32 bytes only (no AES-192); an IV, when given, of 16 bytes; CBC requires one;
#   * encrypt/decrypt(data[, out]): no padding, len(data) % 16 != 0 -> ValueError;
#   * CBC state carries across calls on one object;
#   * the first call fixes the direction: the other one then raises ValueError("can't encrypt & decrypt").
import _nodehost

try:
    import ubinascii as _ba
except ImportError:
    import binascii as _ba


def _buf(x):
    if isinstance(x, str):
        return x.encode()
    return bytes(x)  # bytes, bytearray, memoryview; anything else raises TypeError as the C code does


class aes:
    def __init__(self, *args, **kw):
        if kw:
            raise TypeError("function doesn't take keyword arguments")
        if not 2 <= len(args) <= 3:
            raise TypeError("function takes 2 or 3 positional arguments but %d were given" % len(args))
        mode = args[1]
        if type(mode) is not int and type(mode) is not bool:
            raise TypeError("can't convert %s to int" % type(mode).__name__)
        mode = int(mode)
        if mode not in (1, 2):
            raise ValueError("mode")
        key = _buf(args[0])
        if len(key) not in (16, 32):
            raise ValueError("key")
        iv = None
        if len(args) > 2 and args[2] is not None:
            iv = _buf(args[2])
            if len(iv) != 16:
                raise ValueError("IV")
        elif mode == 2:
            raise ValueError("IV")
        self._key = _ba.hexlify(key).decode()
        self._iv = _ba.hexlify(iv).decode() if iv is not None else ""
        self._mode = mode
        self._dir = None
        self._js = None

    def _process(self, encrypt, data, out):
        data = _buf(data)
        if len(data) % 16:
            raise ValueError("blksize % 16")
        if self._dir is None:
            self._dir = encrypt
            self._js = _nodehost.aes_new(self._key, self._mode, self._iv, not encrypt)
        elif self._dir != encrypt:
            raise ValueError("can't encrypt & decrypt")
        result = _ba.unhexlify(self._js.update(_ba.hexlify(data).decode())) if data else b""
        if out is None:
            return result
        if len(out) < len(result):
            raise ValueError("output too small")
        out[:len(result)] = result
        return out

    def encrypt(self, data, out=None):
        return self._process(True, data, out)

    def decrypt(self, data, out=None):
        return self._process(False, data, out)
