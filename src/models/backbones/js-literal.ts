/**
 * Reads a JavaScript value literal out of a bundled data module without running it: nsfwjs ships
 * its model topology and weights as browserify bundles (`module.exports = {…}` / `= "base64…"`),
 * and evaluating them would run package code (and set a global in ESM). This parser accepts only
 * what such a literal holds — objects with bare or quoted keys, arrays, double-quoted strings,
 * numbers, `!0`/`!1` (minified true/false), true, false and null — and names the offset of
 * anything else.
 */

export type JsValue = null | boolean | number | string | JsValue[] | { [key: string]: JsValue };

const NUMBER = /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const IDENTIFIER = /[A-Za-z_$][A-Za-z0-9_$]*/y;
const STRING = /"(?:[^"\\\n]|\\.)*"/y;
/** How deep objects and arrays may nest (a Keras topology needs about 10). */
const MAX_DEPTH = 64;

/** Parses the literal that starts at `start` (whitespace allowed); returns it and the offset after it. */
export function parseJsLiteral(text: string, start = 0, what = 'literal'): { value: JsValue; end: number } {
  let at = start;
  const fail = (expected: string): never => {
    throw new Error(`${what}: expected ${expected} at offset ${at}, found ${JSON.stringify(text.slice(at, at + 20))}`);
  };
  const skip = () => {
    while (at < text.length && /\s/.test(text[at]!)) at++;
  };
  const match = (re: RegExp): string | null => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return null;
    at += m[0].length;
    return m[0];
  };
  const value = (depth: number): JsValue => {
    if (depth > MAX_DEPTH) fail(`at most ${MAX_DEPTH} levels of nesting`);
    skip();
    const c = text[at];
    if (c === '{') {
      at++;
      const out: Record<string, JsValue> = {};
      skip();
      if (text[at] === '}') return (at++, out);
      for (;;) {
        skip();
        const quoted = match(STRING);
        const key = quoted !== null ? (JSON.parse(quoted) as string) : (match(IDENTIFIER) ?? match(NUMBER) ?? fail('a key'));
        skip();
        if (text[at] !== ':') fail("':'");
        at++;
        // Own properties only: a key such as __proto__ must not reach the prototype.
        Object.defineProperty(out, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        skip();
        if (text[at] === ',') at++;
        else if (text[at] === '}') return (at++, out);
        else fail("',' or '}'");
      }
    }
    if (c === '[') {
      at++;
      const out: JsValue[] = [];
      skip();
      if (text[at] === ']') return (at++, out);
      for (;;) {
        out.push(value(depth + 1));
        skip();
        if (text[at] === ',') at++;
        else if (text[at] === ']') return (at++, out);
        else fail("',' or ']'");
      }
    }
    if (c === '"') {
      const s = match(STRING) ?? fail('a closed string');
      return JSON.parse(s) as string;
    }
    if (text.startsWith('!0', at) || text.startsWith('!1', at)) {
      at += 2;
      return text[at - 1] === '0';
    }
    const word = match(IDENTIFIER);
    if (word !== null) {
      if (word === 'true' || word === 'false') return word === 'true';
      if (word === 'null') return null;
      at -= word.length;
      return fail('a value');
    }
    const n = match(NUMBER);
    if (n !== null) return Number(n);
    return fail('a value');
  };
  const parsed = value(0);
  return { value: parsed, end: at };
}

/**
 * The value a browserify bundle of one data module exports: the literal after its single
 * `<module>.exports=`, which must be followed by the end of the module function.
 */
export function bundledExport(source: string, what: string): JsValue {
  const marks = [...source.matchAll(/\{1:\[function\(\w+,(\w+),\w+\)\{\1\.exports=/g)];
  if (marks.length !== 1) throw new Error(`${what}: not a one-module data bundle (found ${marks.length} module bodies)`);
  const mark = marks[0]!;
  const { value, end } = parseJsLiteral(source, mark.index + mark[0].length, what);
  if (!/^\s*;?\s*\}/.test(source.slice(end, end + 8))) {
    throw new Error(`${what}: the exported literal is followed by code at offset ${end}; only a data module is read`);
  }
  return value;
}
