'use strict';
// A strict JSON reader for the envelope's JSON form (SPEC.md §5.2).
//
// JSON.parse cannot be used as is: it keeps the last of duplicated members and turns 1.0 into 1, and the
// spec requires both to be rejected. This reader validates the whole text as JSON (RFC 8259), rejects
// duplicated members at every level, and reports each top-level member with its kind ('string', 'int' for a
// number without fraction or exponent, 'number', 'boolean', 'null', 'object', 'array') and value.

const { MalformedError } = require('./errors');

const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const WS_RE = /[ \t\n\r]*/y;
const MAX_DEPTH = 64;

function parseJsonObject(text) {
  let at = 0;
  const fail = (what) => { throw new MalformedError(`not JSON: ${what} at character ${at}`); };
  const ws = () => { WS_RE.lastIndex = at; WS_RE.exec(text); at = WS_RE.lastIndex; };
  const match = (re) => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m) at = re.lastIndex;
    return m;
  };

  function value(depth) {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    ws();
    const c = text[at];
    if (c === '"') {
      const m = match(STRING_RE);
      if (!m) fail('bad string');
      return { kind: 'string', value: JSON.parse(m[0]) };
    }
    if (c === '{') return { kind: 'object', value: object(depth + 1) };
    if (c === '[') {
      at++;
      ws();
      const items = [];
      if (text[at] === ']') { at++; return { kind: 'array', value: items }; }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === ']') { at++; return { kind: 'array', value: items }; }
        fail("expected ',' or ']'");
      }
    }
    for (const [word, kind, v] of [['true', 'boolean', true], ['false', 'boolean', false], ['null', 'null', null]]) {
      if (text.startsWith(word, at)) { at += word.length; return { kind, value: v }; }
    }
    const m = match(NUMBER_RE);
    if (m) return { kind: m[1] || m[2] ? 'number' : 'int', value: Number(m[0]) };
    return fail('unexpected character');
  }

  function object(depth) {
    at++; // '{'
    const members = new Map();
    ws();
    if (text[at] === '}') { at++; return members; }
    for (;;) {
      ws();
      if (text[at] !== '"') fail('expected a member name');
      const start = at;
      if (!match(STRING_RE)) fail('bad member name');
      const name = JSON.parse(text.slice(start, at));
      ws();
      if (text[at] !== ':') fail("expected ':'");
      at++;
      if (members.has(name)) throw new MalformedError(`JSON envelope: duplicated member ${name}`);
      members.set(name, value(depth));
      ws();
      if (text[at] === ',') { at++; continue; }
      if (text[at] === '}') { at++; return members; }
      fail("expected ',' or '}'");
    }
  }

  if (typeof text !== 'string') throw new MalformedError('envelope must be text');
  const top = value(0);
  ws();
  if (at !== text.length) fail('extra data after the JSON value');
  if (top.kind !== 'object') throw new MalformedError(`JSON envelope must be an object, got ${top.kind}`);
  return top.value;
}

module.exports = { parseJsonObject };
