import { StringDecoder } from 'node:string_decoder';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * The first stage of an import: CSV text in, records out, each with the line it starts on.
 *
 * Written here rather than taken from csv-parse because the import needs two things that
 * parser makes costly: exact line numbers (its own count is off after a quoted CRLF, and it
 * drops blank lines from its raw text) and cheap blank lines (it builds an Error object for
 * every record whose column count differs, ~30 µs each: a file of a million blank lines held
 * the event loop for 45 s). The dialect is RFC 4180 with the leniency an editor's files need:
 * CRLF, LF or a lone CR end a line; a byte-order mark is dropped; a quote inside an unquoted
 * field (O"Brien) is kept as text; text after a closing quote is kept too.
 */

export interface CsvRecord {
  /** The line the record starts on, counting from 1; a quoted field may span more. */
  line: number;
  fields: string[];
}

/** The file cannot be read past `line`: the records before it were all handed out. */
export class CsvStop extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
    this.name = 'CsvStop';
  }
}

export interface CsvOptions {
  /** A record longer than this (in characters) stops the file: it is an unclosed quote. */
  maxRecordChars: number;
  /** Told the size of every chunk read, before its records are handed out. */
  onChunk?: (bytes: number) => void;
}

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

type Scan =
  | { kind: 'record'; fields: string[]; end: number; lines: number }
  /** The text ends before the record does: wait for more (or fail at the end of the input). */
  | { kind: 'more' };

/**
 * Reads one record starting at `start`. `final` says no more text will come, so a record
 * without its line break is complete (and an open quote is an error, reported by the caller).
 */
function scanRecord(text: string, start: number, final: boolean): Scan {
  const fields: string[] = [];
  let i = start;
  let lines = 0;
  for (;;) {
    let value = '';
    if (text.charCodeAt(i) === QUOTE) {
      // Quoted: up to the next quote not doubled; line breaks inside are part of the value.
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1 || (q === text.length - 1 && !final)) return { kind: 'more' };
        value += text.slice(from, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      lines += countBreaks(value);
    }
    // Unquoted text (or what follows a closing quote) up to a comma or a line break.
    let j = i;
    for (; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === COMMA || c === LF || c === CR) break;
    }
    value += text.slice(i, j);
    fields.push(value);
    if (j >= text.length) {
      if (!final) return { kind: 'more' };
      return { kind: 'record', fields, end: j, lines };
    }
    const c = text.charCodeAt(j);
    if (c === COMMA) {
      i = j + 1;
      continue;
    }
    if (c === CR) {
      // A CR at the very end may be the first half of a CRLF split between two chunks.
      if (j + 1 >= text.length && !final) return { kind: 'more' };
      return { kind: 'record', fields, end: text.charCodeAt(j + 1) === LF ? j + 2 : j + 1, lines: lines + 1 };
    }
    return { kind: 'record', fields, end: j + 1, lines: lines + 1 };
  }
}

function countBreaks(value: string): number {
  let n = 0;
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (c === LF) n++;
    else if (c === CR) {
      n++;
      if (value.charCodeAt(k + 1) === LF) k++;
    }
  }
  return n;
}

/** A line of nothing but separators and spaces: not a record (and not worth a field array). */
function isBlank(fields: string[]): boolean {
  for (const f of fields) if (f.trim() !== '') return false;
  return true;
}

/**
 * The records of `input`, chunk by chunk: each yielded iterable scans the records completed by
 * one chunk as they are asked for (often none, for a long quoted field), so that a record is
 * made only when the import reads it and is garbage before the next one is made: a chunk's
 * records made all at once outlived the young generation's collections and were promoted to
 * the old one, thousands of them at every chunk. Each must be read to its end before the next
 * is asked for (it leaves behind the start of the record the next chunk completes). Blank
 * lines count for line numbers and are not handed out. Between chunks the generator gives
 * the event loop a turn, so that no file, however it is shaped, keeps other requests waiting.
 * A stop (unclosed quote, oversized record) is thrown as CsvStop after every record before it
 * was handed out.
 */
export async function* csvRecords(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, options: CsvOptions): AsyncGenerator<Iterable<CsvRecord>> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let line = 1;
  let first = true;
  let reading = false;

  function* take(text: string, final: boolean): Generator<CsvRecord> {
    let at = 0;
    while (at < text.length) {
      const scan = scanRecord(text, at, final);
      if (scan.kind === 'more') break;
      const start = line;
      line += scan.lines;
      at = scan.end;
      if (!isBlank(scan.fields)) yield { line: start, fields: scan.fields };
    }
    const rest = text.slice(at);
    if (final && rest !== '') throw new CsvStop(line, 'a quoted field starting here is never closed; nothing after it was read');
    if (rest.length > options.maxRecordChars) {
      throw new CsvStop(
        line,
        `a quoted field starting here is not closed (or the row is longer than ${Math.round(options.maxRecordChars / 1024)} KB); nothing after it was read`,
      );
    }
    carry = rest;
    reading = false;
  }
  const records = (text: string, final: boolean) => {
    if (reading) throw new Error('csvRecords: the records of a chunk must all be read before the next chunk');
    reading = true;
    return take(text, final);
  };

  for await (const chunk of input) {
    options.onChunk?.(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (first && text !== '') {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    yield records(carry + text, false);
    await nextTurn();
  }
  yield records(carry + decoder.end(), true);
}
