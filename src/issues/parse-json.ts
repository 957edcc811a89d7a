/**
 * JSON.parse, with the line and column of a syntax error.
 *
 * V8 (Node 20) says where it stopped in two ways: most messages end in "in JSON at position N";
 * "Unexpected token" messages instead quote up to 10 characters either side of the token
 * (`Unexpected token ']', ..."2, 3,\n  ]\n}"... is not valid JSON`). Both are read here, so an
 * editor learns where to look without us writing a second JSON parser.
 */

export interface JsonSyntaxError {
  /** 1-based line; lines end at \n, \r\n or \r, as in editors. */
  line: number;
  /** 1-based column in UTF-16 code units, as editors count them. */
  column: number;
  /** V8's description without its position suffix, e.g. "Unexpected token ']'". */
  reason: string;
}

export function parseJson(text: string): { value: unknown } | { error: JsonSyntaxError } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    const { offset, reason } = locate(err.message, text);
    return { error: { ...lineAndColumn(text, offset), reason } };
  }
}

/** V8 shows at most this many characters either side of an unexpected token (json-parser.cc). */
const CONTEXT = 10;

function locate(message: string, text: string): { offset: number; reason: string } {
  const atPosition = /^(.*) in JSON at position (\d+)/s.exec(message);
  if (atPosition) return { reason: atPosition[1] ?? message, offset: Number(atPosition[2]) };

  if (message.startsWith('Unexpected end of JSON input')) {
    return { reason: 'Unexpected end of JSON input', offset: text.length };
  }

  // Unexpected token 'x', "WHOLE SOURCE" | "START"... | ..."MIDDLE"... | ..."END" is not valid JSON
  const token = /^(Unexpected token '.*?'), (\.\.\.)?"(.*)"(\.\.\.)? is not valid JSON$/s.exec(message);
  if (token) {
    const reason = token[1] ?? message;
    const snippet = token[3] ?? '';
    const cutBefore = token[2] !== undefined;
    const cutAfter = token[4] !== undefined;
    if (!cutBefore && cutAfter) return { reason, offset: snippet.length - CONTEXT };
    if (cutBefore && !cutAfter) return { reason, offset: text.length - snippet.length + CONTEXT };
    if (cutBefore && cutAfter) {
      // The first copy of the 21-character window: an earlier identical window could only sit
      // inside a string, which is rare enough to accept being one place off then.
      const start = text.indexOf(snippet);
      if (start >= 0) return { reason, offset: start + CONTEXT };
    }
    // Short sources (under 21 characters) are quoted whole: point at the first such token.
    const tokenText = /^Unexpected token '(.*)'$/s.exec(reason)?.[1] ?? '';
    return { reason, offset: Math.max(0, text.indexOf(tokenText)) };
  }

  return { reason: message, offset: 0 };
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const lines = before.split(/\r\n|\r|\n/);
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}
