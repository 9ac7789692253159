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
const RateLimitError = define('RateLimitError', ReplayError, 'rate-limited');
const TimestampError = define('TimestampError', IotEnvelopeError, 'timestamp');
const StaleError = define('StaleError', TimestampError, 'stale');
const FutureError = define('FutureError', TimestampError, 'future');
const TimeUnknownError = define('TimeUnknownError', TimestampError, 'time-unknown');

/**
 * Untrusted text (a JSON member name, a direction value ...) as it may appear in a message: JSON-quoted, so
 * control characters and line breaks cannot forge log lines, and cut to `max` characters.
 */
function quote(value, max) {
  const limit = max || 40;
  const text = String(value);
  return text.length > limit ? `${JSON.stringify(text.slice(0, limit))}... (${text.length} characters)` : JSON.stringify(text);
}

module.exports = {
  IotEnvelopeError, MalformedError, UnsupportedVersionError, PaddingError, KeyFormatError, UnknownDeviceError,
  AuthenticationError, DirectionError, ReplayError, DuplicateError, TooOldError, RateLimitError, TimestampError,
  StaleError, FutureError, TimeUnknownError, quote,
};
