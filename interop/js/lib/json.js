'use strict';
// The reader for the envelope's JSON form (SPEC.md §5.2), in one left-to-right pass.
//
// JSON.parse cannot be used: it keeps the last of duplicated members and turns 1.0 into 1, and the spec
// requires both to be refused. Nor does this reader build a general JSON tree: every valid envelope is one
// flat object of at most nine scalar members with known names, so it stops at the first member that cannot
// belong to one (an unknown or repeated name, a tenth member, an object or array value). Its work is
// therefore linear in the length of the text whatever the text holds (SPEC.md §5, "Linear cost"), and a hostile
// document is refused after reading no more than its first offending member.
//
// Result: Map name -> {kind, value}, kind one of 'string', 'int' (a number without fraction or exponent),
// 'number', 'boolean', 'null'.

const { MalformedError, quote } = require('./errors');

const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const WS_RE = /[ \t\n\r]*/y;
const WORDS = [['true', 'boolean', true], ['false', 'boolean', false], ['null', 'null', null]];

function parseEnvelopeJson(text, names) {
  if (typeof text !== 'string') throw new MalformedError('envelope must be text');
  let at = 0;
  const fail = (what) => { throw new MalformedError(`JSON envelope: ${what} at character ${at}`); };
  const ws = () => { WS_RE.lastIndex = at; WS_RE.exec(text); at = WS_RE.lastIndex; };
  const string = () => {
    STRING_RE.lastIndex = at;
    if (!STRING_RE.test(text)) fail('bad string');
    const start = at;
    at = STRING_RE.lastIndex;
    const body = text.slice(start + 1, at - 1);
    return body.indexOf('\\') < 0 ? body : JSON.parse(text.slice(start, at));
  };

  function scalar(name) {
    const c = text[at];
    if (c === '"') return { kind: 'string', value: string() };
    if (c === '{' || c === '[') {
      throw new MalformedError(`JSON envelope: member ${name} is ${c === '{' ? 'an object' : 'an array'}; every member is a string or a number`);
    }
    for (const [word, kind, value] of WORDS) {
      if (text.startsWith(word, at)) { at += word.length; return { kind, value }; }
    }
    NUMBER_RE.lastIndex = at;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail('unexpected character');
    at = NUMBER_RE.lastIndex;
    return { kind: m[1] || m[2] ? 'number' : 'int', value: Number(m[0]) };
  }

  ws();
  if (text[at] !== '{') {
    if (at >= text.length) throw new MalformedError('JSON envelope: empty text');
    throw new MalformedError('JSON envelope must be an object');
  }
  at++;
  const members = new Map();
  ws();
  if (text[at] === '}') {
    at++;
  } else {
    for (;;) {
      ws();
      if (text[at] !== '"') fail('expected a member name');
      const name = string();
      if (!names.has(name)) throw new MalformedError(`JSON envelope: unexpected member ${quote(name)}`);
      if (members.has(name)) throw new MalformedError(`JSON envelope: duplicated member ${quote(name)}`);
      if (members.size === names.size) throw new MalformedError(`JSON envelope: more than ${names.size} members`);
      ws();
      if (text[at] !== ':') fail("expected ':'");
      at++;
      ws();
      members.set(name, scalar(quote(name)));
      ws();
      if (text[at] === ',') { at++; continue; }
      if (text[at] === '}') { at++; break; }
      fail("expected ',' or '}'");
    }
  }
  ws();
  if (at !== text.length) fail('extra data after the JSON object');
  return members;
}

module.exports = { parseEnvelopeJson };
