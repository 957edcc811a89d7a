import { AppError } from '../errors';
import { escapeHtml } from '../escape-html';

/**
 * Per-subscriber values in a rendered issue. The issue is compiled once (per distinct section
 * choice); what differs per subscriber is left as a marker and filled in at send time.
 *
 * A marker is `%%bs-<nonce>:<name>%%`, where the nonce is derived from a hash of the issue and
 * its render context. Issue content cannot contain its own hash, so text in an issue that spells
 * a marker (even one copied from an earlier render) is never taken for one. Markers only use
 * `[a-z0-9:_%-]`, which HTML escaping leaves alone, so they survive MJML and escaping intact.
 *
 * Which nonce is the real one: the one of the *last* marker in the string. Both the HTML and
 * the text part end with the footer, whose last line carries the unsubscribe marker, and no
 * issue content comes after it (tests/unit/issues/render.test.ts holds that invariant).
 */
export const TOKEN_NAMES = ['name', 'preferences_url', 'unsubscribe_url', 'web_url'] as const;
export type TokenName = (typeof TOKEN_NAMES)[number];

/** Tokens that may be filled with ''. Everything else empty is a bug in the caller. */
const MAY_BE_EMPTY: ReadonlySet<string> = new Set<TokenName>(['name']);
const KNOWN: ReadonlySet<string> = new Set<string>(TOKEN_NAMES);

export interface Markers {
  /** The marker for a value. */
  token(name: TokenName): string;
  /** Opens a span kept only when `name` is filled with a non-empty value (e.g. "Hi, Anna"). */
  ifFilled(name: TokenName): string;
  /** Closes the span opened by `ifFilled(name)`. */
  endIf(name: TokenName): string;
}

export function markers(nonce: string): Markers {
  if (!/^[0-9a-f]{12}$/.test(nonce)) throw new AppError('internal', `bad personalization nonce: ${nonce}`);
  return {
    token: (name) => `%%bs-${nonce}:${name}%%`,
    ifFilled: (name) => `%%bs-${nonce}:if:${name}%%`,
    endIf: (name) => `%%bs-${nonce}:end:${name}%%`,
  };
}

const MARKER = /%%bs-([0-9a-f]{12}):((?:if:|end:)?)([a-z_]+)%%/g;

export interface Personalizer {
  /** Token names that occur in the compiled string, sorted. */
  readonly tokens: readonly TokenName[];
  /**
   * The string with every marker replaced. `html` escapes the values (a subscriber named `<b>`
   * stays text, `&` in URLs becomes `&amp;`); `text` inserts them as they are.
   * Throws on a missing or unknown value: that is a bug in the caller, not a reason to send
   * an email with a blank unsubscribe link.
   */
  fill(values: Record<TokenName, string>, mode: 'html' | 'text'): string;
  /**
   * The same program with every static part transformed once and every value transformed per
   * call, after escaping: how a MIME part is encoded once and filled per recipient.
   */
  encoded(encodePart: (s: string) => string, encodeValue: (s: string, token: TokenName) => string): Personalizer;
  /**
   * The same program with the static parts as bytes, encoded once: filling gives the pieces of
   * the message in order (the shared static Buffers and each value's own bytes), so the 100 KB
   * of a newsletter are not encoded to UTF-8 again for every recipient.
   */
  bytes(encoding: 'utf8' | 'latin1'): { fill(values: Record<TokenName, string>, mode: 'html' | 'text'): Buffer[] };
}

/**
 * The compiled form is a flat program: `parts[i]` is static text, `ops[i]` says what follows
 * it: a value, or the start/end of a conditional span. Filling is a walk concatenating
 * precomputed parts, so it costs a few microseconds per recipient.
 */
type Op = { kind: 'value'; token: TokenName } | { kind: 'if'; token: TokenName; skipTo: number } | { kind: 'end' };

export function compilePersonalization(rendered: string): Personalizer {
  const found = [...rendered.matchAll(MARKER)];
  const last = found.at(-1);
  if (!last) return staticPersonalizer(rendered);
  const nonce = last[1];

  const parts: string[] = [];
  const ops: Op[] = [];
  const openIf: number[] = [];
  const used = new Set<TokenName>();
  let from = 0;
  for (const m of found) {
    if (m[1] !== nonce) continue; // spelled by content: stays literal
    const [whole, , prefix, name] = m;
    if (name === undefined || !KNOWN.has(name)) throw new AppError('internal', `unknown personalization token ${whole}`);
    const token = name as TokenName;
    parts.push(rendered.slice(from, m.index));
    from = m.index + whole.length;
    if (prefix === 'if:') {
      if (openIf.length > 0) throw new AppError('internal', 'nested conditional personalization spans');
      openIf.push(ops.length);
      ops.push({ kind: 'if', token, skipTo: -1 });
    } else if (prefix === 'end:') {
      const at = openIf.pop();
      const open = at === undefined ? undefined : ops[at];
      if (open?.kind !== 'if' || open.token !== token) throw new AppError('internal', `unmatched ${whole}`);
      open.skipTo = ops.length; // when empty: resume after this end op
      ops.push({ kind: 'end' });
    } else {
      ops.push({ kind: 'value', token });
    }
    used.add(token);
  }
  if (openIf.length > 0) throw new AppError('internal', 'unclosed conditional personalization span');
  parts.push(rendered.slice(from));
  const tokens = [...used].sort();

  return program(parts, ops, tokens, (v) => v);
}

function program(
  parts: readonly string[],
  ops: readonly Op[],
  tokens: readonly TokenName[],
  encodeValue: (s: string, token: TokenName) => string,
): Personalizer {
  /** One recipient's walk: static part `i`, or a value (escaped for `mode`, then encoded), in order. */
  const walk = (values: Record<TokenName, string>, mode: 'html' | 'text', part: (i: number) => void, value: (v: string) => void) => {
    const resolved = resolveValues(values, tokens, mode);
    part(0);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as Op;
      if (op.kind === 'value') value(encodeValue(resolved[op.token] as string, op.token));
      else if (op.kind === 'if' && resolved[op.token] === '') i = op.skipTo; // drop the span
      part(i + 1);
    }
  };
  return {
    tokens,
    fill(values, mode) {
      // `+=` builds a rope: the ~100 KB of static parts are not copied per recipient here
      // (Array#join would copy them: ~30 µs); whoever encodes the message reads it once anyway.
      let out = '';
      walk(
        values,
        mode,
        (i) => (out += parts[i] as string),
        (v) => (out += v),
      );
      return out;
    },
    encoded(encodePart, encodeValueAgain) {
      return program(parts.map(encodePart), ops, tokens, (v, token) => encodeValueAgain(encodeValue(v, token), token));
    },
    bytes(encoding) {
      const staticParts = parts.map((p) => Buffer.from(p, encoding));
      return {
        fill(values, mode) {
          const out: Buffer[] = [];
          walk(
            values,
            mode,
            (i) => out.push(staticParts[i] as Buffer),
            (v) => out.push(Buffer.from(v, encoding)),
          );
          return out;
        },
      };
    },
  };
}

function resolveValues(values: Record<TokenName, string>, tokens: readonly TokenName[], mode: 'html' | 'text'): Partial<Record<TokenName, string>> {
  for (const key in values) {
    if (!KNOWN.has(key)) throw new AppError('internal', `unknown personalization value "${key}"`);
  }
  const out: Partial<Record<TokenName, string>> = {};
  for (const token of tokens) {
    const value: unknown = values[token];
    if (typeof value !== 'string') throw new AppError('internal', `missing personalization value "${token}"`);
    if (value === '' && !MAY_BE_EMPTY.has(token)) throw new AppError('internal', `empty personalization value "${token}"`);
    out[token] = mode === 'html' ? escapeHtml(value) : value;
  }
  return out;
}

function staticPersonalizer(rendered: string): Personalizer {
  return program([rendered], [], [], (v) => v);
}
