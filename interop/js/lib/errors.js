'use strict';
// The error classes of SPEC.md §6.1, mirroring iotenvelope/errors.py: every failure is an IotEnvelopeError
// with `.code` (the SPEC.md name). Messages describe the input; they never contain keys or plaintext.

class IotEnvelopeError extends Error {
  constructor(message) {
    super(message);
    this.name = this.constructor.name;
  }
  get code() { return this.constructor.code; }
}
IotEnvelopeError.code = 'error';

function define(name, parent, code) {
  const cls = { [name]: class extends parent {} }[name];
  cls.code = code;
  return cls;
}

const MalformedError = define('MalformedError', IotEnvelopeError, 'malformed');
const UnsupportedVersionError = define('UnsupportedVersionError', MalformedError, 'unsupported-version');
const PaddingError = define('PaddingError', MalformedError, 'padding');
const KeyFormatError = define('KeyFormatError', IotEnvelopeError, 'bad-key');
const UnknownDeviceError = define('UnknownDeviceError', KeyFormatError, 'unknown-device');
const AuthenticationError = define('AuthenticationError', IotEnvelopeError, 'auth');
const DirectionError = define('DirectionError', AuthenticationError, 'wrong-direction');
const ReplayError = define('ReplayError', IotEnvelopeError, 'replay');
const DuplicateError = define('DuplicateError', ReplayError, 'replay-duplicate');
const TooOldError = define('TooOldError', ReplayError, 'replay-too-old');
const TimestampError = define('TimestampError', IotEnvelopeError, 'timestamp');
const StaleError = define('StaleError', TimestampError, 'stale');
const FutureError = define('FutureError', TimestampError, 'future');
const TimeUnknownError = define('TimeUnknownError', TimestampError, 'time-unknown');

module.exports = {
  IotEnvelopeError, MalformedError, UnsupportedVersionError, PaddingError, KeyFormatError, UnknownDeviceError,
  AuthenticationError, DirectionError, ReplayError, DuplicateError, TooOldError, TimestampError, StaleError,
  FutureError, TimeUnknownError,
};
