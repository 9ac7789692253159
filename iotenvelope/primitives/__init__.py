"""The primitives (the "hazmat" layer): strict base64, PKCS#7, AES-CBC, the envelope MAC, KDFs, key parsing,
OpenSSL's ``Salted__`` header and HTTP body headers. Everything above builds on these; use them directly only to
build a new format."""
