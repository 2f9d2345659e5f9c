// A small interpreter for the part of Architect's expression language the
// blueprint's flows use. Anything outside that part is an error, so a flow
// that starts using more fails its tests until this file learns it.
//
//   literals   "text" (\" and \\ escapes), 12, true, false, NOT_SET
//   names      Task.x, Flow.x, Call.x (case-insensitive, like Architect)
//   operators  or, and, not, == != < <= > >=, + -  (+ also joins strings)
//   functions  If, IsSet, IsNotSetOrEmpty, ToAudioTTS, ToAudioBlank, ToString
//
// Values are JavaScript strings, integers and booleans; NOT_SET is a
// sentinel. Using NOT_SET in arithmetic, ordering or audio is a runtime
// error (FlowError), which the flow's error handling receives, as in
// Architect.

export const NOT_SET = Symbol('NOT_SET');

/** A run-time error of the flow (Architect sends these to error handling). */
export class FlowError extends Error {}

function tokenize(src) {
  const tokens = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"') {
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in ${src}`);
        if (src[i] === '\\') { s += src[i + 1]; i += 2; continue; }
        if (src[i] === '"') { i++; break; }
        s += src[i++];
      }
      tokens.push({ t: 'str', v: s });
      continue;
    }
    if (/[0-9]/.test(c)) {
      let n = '';
      while (i < src.length && /[0-9]/.test(src[i])) n += src[i++];
      tokens.push({ t: 'num', v: Number(n) });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let n = '';
      while (i < src.length && /[A-Za-z0-9_.]/.test(src[i])) n += src[i++];
      tokens.push({ t: 'id', v: n });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '<=', '>='].includes(two)) { tokens.push({ t: 'op', v: two }); i += 2; continue; }
    if ('<>+-(),'.includes(c)) { tokens.push({ t: 'op', v: c }); i++; continue; }
    throw new Error(`unexpected character ${JSON.stringify(c)} in expression ${src}`);
  }
  return tokens;
}

/** Parse an expression into a tree; throws on anything outside the subset. */
export function parseExpression(src) {
  const tokens = tokenize(src);
  let p = 0;
  const peek = () => tokens[p];
  const isWord = (w) => peek()?.t === 'id' && peek().v.toLowerCase() === w;
  const isOp = (o) => peek()?.t === 'op' && peek().v === o;
  const expect = (o) => { if (!isOp(o)) throw new Error(`expected ${o} in ${src}`); p++; };

  function primary() {
    const tok = tokens[p++];
    if (!tok) throw new Error(`unexpected end of ${src}`);
    if (tok.t === 'str') return { k: 'lit', v: tok.v };
    if (tok.t === 'num') return { k: 'lit', v: tok.v };
    if (tok.t === 'op' && tok.v === '(') { const e = orExpr(); expect(')'); return e; }
    if (tok.t === 'op' && tok.v === '-') return { k: 'neg', a: primary() };
    if (tok.t === 'id') {
      const low = tok.v.toLowerCase();
      if (low === 'true') return { k: 'lit', v: true };
      if (low === 'false') return { k: 'lit', v: false };
      if (low === 'not_set') return { k: 'lit', v: NOT_SET };
      if (isOp('(')) {
        p++;
        const args = [];
        if (!isOp(')')) {
          args.push(orExpr());
          while (isOp(',')) { p++; args.push(orExpr()); }
        }
        expect(')');
        if (!(low in FUNCTIONS)) throw new Error(`unsupported function ${tok.v} in ${src}`);
        if (FUNCTIONS[low].arity !== args.length) throw new Error(`${tok.v} takes ${FUNCTIONS[low].arity} arguments in ${src}`);
        return { k: 'call', f: low, args };
      }
      if (!/^(task|flow|call)\.[a-z0-9_]+$/i.test(tok.v)) throw new Error(`unknown name ${tok.v} in ${src}`);
      return { k: 'var', name: tok.v };
    }
    throw new Error(`unexpected ${tok.v} in ${src}`);
  }
  function additive() {
    let a = primary();
    while (isOp('+') || isOp('-')) { const op = tokens[p++].v; a = { k: 'bin', op, a, b: primary() }; }
    return a;
  }
  function comparison() {
    const a = additive();
    for (const op of ['==', '!=', '<=', '>=', '<', '>']) {
      if (isOp(op)) { p++; return { k: 'bin', op, a, b: additive() }; }
    }
    return a;
  }
  function notExpr() {
    if (isWord('not')) { p++; return { k: 'not', a: notExpr() }; }
    return comparison();
  }
  function andExpr() {
    let a = notExpr();
    while (isWord('and')) { p++; a = { k: 'and', a, b: notExpr() }; }
    return a;
  }
  function orExpr() {
    let a = andExpr();
    while (isWord('or')) { p++; a = { k: 'or', a, b: andExpr() }; }
    return a;
  }
  const tree = orExpr();
  if (p !== tokens.length) throw new Error(`trailing ${tokens[p].v} in ${src}`);
  return tree;
}

const FUNCTIONS = {
  if: { arity: 3 },
  isset: { arity: 1 },
  isnotsetorempty: { arity: 1 },
  toaudiotts: { arity: 1 },
  toaudioblank: { arity: 1 },
  tostring: { arity: 1 },
};

function need(v, type, what) {
  if (v === NOT_SET) throw new FlowError(`${what}: value is NOT_SET`);
  if (typeof v !== type) throw new FlowError(`${what}: expected ${type}, got ${typeof v}`);
  return v;
}

/**
 * Evaluate a parsed expression. `lookup(name)` returns a variable's value
 * (NOT_SET when it has none) and throws for an unknown name.
 */
export function evaluate(tree, lookup) {
  const ev = (n) => evaluate(n, lookup);
  switch (tree.k) {
    case 'lit': return tree.v;
    case 'var': return lookup(tree.name);
    case 'neg': return -need(ev(tree.a), 'number', 'unary -');
    case 'not': return !need(ev(tree.a), 'boolean', 'not');
    case 'and': return need(ev(tree.a), 'boolean', 'and') && need(ev(tree.b), 'boolean', 'and');
    case 'or': return need(ev(tree.a), 'boolean', 'or') || need(ev(tree.b), 'boolean', 'or');
    case 'bin': {
      const a = ev(tree.a);
      const b = ev(tree.b);
      switch (tree.op) {
        case '==': return a === b;
        case '!=': return a !== b;
        case '+':
          if (typeof a === 'string' || typeof b === 'string') return need(a, typeof a, '+') + String(need(b, typeof b, '+'));
          return need(a, 'number', '+') + need(b, 'number', '+');
        case '-': return need(a, 'number', '-') - need(b, 'number', '-');
        default: {
          need(a, 'number', tree.op);
          need(b, 'number', tree.op);
          return { '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b }[tree.op];
        }
      }
    }
    case 'call': {
      const args = tree.args;
      switch (tree.f) {
        case 'if': return need(ev(args[0]), 'boolean', 'If') ? ev(args[1]) : ev(args[2]);
        case 'isset': return ev(args[0]) !== NOT_SET;
        case 'isnotsetorempty': { const v = ev(args[0]); return v === NOT_SET || v === ''; }
        case 'toaudiotts': return { tts: need(ev(args[0]), 'string', 'ToAudioTTS') };
        case 'toaudioblank': return { blankMs: need(ev(args[0]), 'number', 'ToAudioBlank') };
        case 'tostring': { const v = ev(args[0]); return v === NOT_SET ? NOT_SET : String(v); }
        default: throw new Error(`unsupported function ${tree.f}`);
      }
    }
    default: throw new Error(`bad expression node ${tree.k}`);
  }
}
