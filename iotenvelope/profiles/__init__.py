"""Profiles: the wire conventions ``seal``/``open`` speak (``--profile``).

``envelope-v1`` is the authenticated format of SPEC.md. Every other profile reproduces a legacy convention
byte for byte so existing fleets can be read and migrated; those are UNAUTHENTICATED legacy and say so, in one
wording (:data:`UNAUTHENTICATED`, :func:`unauthenticated_note`) everywhere: ``profiles``, ``--help``, warnings,
errors and the docs.

A profile module defines ``PROFILES`` (a list of :class:`Profile` instances) and ``ORDER`` (an int: the
listing order). New profile modules need no registration: every module in this package is found.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any, Callable, Iterator

from ..errors import IotEnvelopeError, UsageError
from ..records import REQUIRED, Factory, Frozen, Record



class Option(Frozen):
    """An extra CLI option a profile needs; ``commands`` says for which of seal/open it is added."""

    FIELDS = (("flags", REQUIRED), ("kwargs", Factory(dict)), ("commands", ("seal", "open")))
    flags: tuple[str, ...]
    kwargs: dict
    commands: tuple[str, ...]


class OpenResult(Record):
    """What a profile's ``open`` returns: ``plaintext`` (never in a repr or a log line) and ``meta`` (device,
    seq, ts, ...: JSON-serialisable)."""

    FIELDS = (("plaintext", REQUIRED), ("meta", Factory(dict)))
    HIDDEN = frozenset({"plaintext"})
    plaintext: bytes
    meta: dict

    def __init__(self, plaintext: bytes, meta: "dict | None" = None) -> None:  # one per line of open --batch
        self.plaintext = plaintext
        self.meta = {} if meta is None else meta


Warn = Callable[[str], None]


def no_warn(message: str) -> None:
    """The default ``warn``: drop the message (library calls that are not interested in warnings)."""


def check_warn(warn: object) -> Warn:
    """``warn`` if it can be called with a message (UsageError otherwise)."""
    if not callable(warn):
        raise UsageError.wrong_type("warn", warn, "a callable taking a message")
    return warn  # type: ignore[return-value]


class Profile:
    name = ""
    summary = ""
    authenticated = False
    options: tuple[Option, ...] = ()

    def seal(self, plaintext: bytes, opts: argparse.Namespace, warn: Warn, index: int = 0) -> str:
        """One message → its wire text. ``index`` counts messages in --batch mode (0 for the first)."""
        raise UsageError(f"profile {self.name} cannot seal")

    def open(self, text: str, opts: argparse.Namespace, warn: Warn) -> OpenResult:
        raise UsageError(f"profile {self.name} cannot open")

    def open_batch(self, texts: list[str], opts: argparse.Namespace, warn: Warn,
                   line: "Callable[[Any], str | None] | None" = None) -> Iterator[OpenResult | IotEnvelopeError | str]:
        """``open --batch``: one result or error per text, in order. The default opens them one by one; a
        profile may override it to check a whole chunk at once (envelope-v1: one replay-store transaction).

        ``line``, when given, is the caller's text for an :class:`iotenvelope.Opened` (or None): a profile that
        opens envelope-v1 envelopes yields that text in place of the OpenResult it would build, when it is not
        None (the CLI's result line of a reading). Other profiles ignore it."""
        for text in texts:
            try:
                yield self.open(text, opts, warn)
            except UsageError:
                raise
            except IotEnvelopeError as exc:
                yield exc


#: The label of every profile without a MAC (issue 10 F11: one wording in `profiles`, --help, errors and docs)
UNAUTHENTICATED = "UNAUTHENTICATED legacy"
#: what that label means, said after it wherever there is room
UNAUTHENTICATED_MEANS = "no MAC: anyone can forge, alter or replay its messages"


def unauthenticated_note(name: str) -> str:
    """The sentence warnings and errors use for a profile without a MAC."""
    return f"profile {name} is {UNAUTHENTICATED} ({UNAUTHENTICATED_MEANS})"


_REGISTRY: dict[str, Profile] | None = None
#: modules of this package that are not profiles (the registry does not import them)
NOT_PROFILES = frozenset({"diagnose", "upload", "fernet_token"})


def _module_names() -> list[str]:
    """The modules of this package. A directory is listed directly: ``pkgutil.iter_modules`` would import
    :mod:`inspect` first, a fifth of a one-shot CLI call's start-up (issue 16); anything else (a zip) asks pkgutil."""
    names = set()
    for entry in __path__:
        try:
            files = os.listdir(entry)
        except OSError:
            import pkgutil
            names.update(info.name for info in pkgutil.iter_modules([entry]))
            continue
        names.update(f[:-3] for f in files if f.endswith(".py") and f != "__init__.py" and f[:-3].isidentifier())
    return sorted(names)


def registry() -> dict[str, Profile]:
    global _REGISTRY
    if _REGISTRY is None:
        modules = [importlib.import_module(f"{__name__}.{name}") for name in _module_names()
                   if name not in NOT_PROFILES]
        _REGISTRY = {}
        for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
            for profile in module.PROFILES:
                _REGISTRY[profile.name] = profile
    return _REGISTRY


def get(name: str) -> Profile:
    UsageError.check_type(name, str, "profile name", "text")
    profiles = registry()
    if name not in profiles:
        raise UsageError(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def require(opts: Any, attr: str, flag: str, profile: str) -> Any:
    value = getattr(opts, attr, None)
    if value is None:
        raise UsageError(f"profile {profile} needs {flag}")
    return value
