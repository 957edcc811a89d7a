import fs from 'node:fs';
import busboy from 'busboy';
import type { Readable } from 'node:stream';
import type { Request } from 'express';
import { AppError } from '../errors';

/**
 * Multipart forms of the desk (issue upload, CSV import), read with busboy: streamed, with
 * limits, so a large or endless upload is refused instead of filling memory. The desk's other
 * forms are urlencoded and parsed by routes.ts.
 */

export interface UploadedFile {
  field: string;
  name: string;
  data: Buffer;
}

export interface Limits {
  /** Bytes of one file. */
  fileSize: number;
  files: number;
}

function parser(req: Request, limits: Limits) {
  if (!req.is('multipart/form-data')) throw new AppError('invalid_input', 'this form is sent as multipart/form-data (a file upload)');
  try {
    return busboy({ headers: req.headers, limits: { fileSize: limits.fileSize, files: limits.files, fields: 50, fieldSize: 10 * 1024 * 1024 } });
  } catch (err) {
    throw new AppError('invalid_input', `not a readable upload: ${(err as Error).message}`);
  }
}

const tooLarge = (limits: Limits) => new AppError('payload_too_large', `a file is larger than ${Math.round(limits.fileSize / 1024 / 1024)} MB`);

/**
 * What both readers share: busboy over the request, the fields collected, one way to fail (stop
 * reading, drain the rest of the request, reject once). `onFile` says what a file part becomes;
 * `finish` gives the result once the form is read (it may throw: the form is refused).
 */
function readForm<T>(
  req: Request,
  limits: Limits,
  options: {
    onFile(field: string, stream: Readable, filename: string | undefined, fail: (err: Error) => void): void;
    finish(fields: Record<string, string>): T | Promise<T>;
    /** Refuse a form with more files than `limits.files` (else the parts past it are dropped). */
    refuseExtraFiles: boolean;
  },
): Promise<T> {
  return new Promise((resolve, reject) => {
    const bb = parser(req, limits);
    const fields: Record<string, string> = {};
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(err);
    };
    bb.on('field', (name, value) => {
      fields[name] = value;
    });
    bb.on('file', (field, stream, info) => options.onFile(field, stream, info.filename, fail));
    if (options.refuseExtraFiles) bb.on('filesLimit', () => fail(new AppError('payload_too_large', `at most ${limits.files} files at once`)));
    bb.on('error', (err: Error) => fail(new AppError('invalid_input', `not a readable upload: ${err.message}`)));
    bb.on('close', () => {
      if (failed) return;
      Promise.resolve()
        .then(() => options.finish(fields))
        .then(resolve, fail);
    });
    req.pipe(bb);
  });
}

/** Every field and file of a form, the files in memory (issue JSON and images: small, bounded). */
export function readMultipart(req: Request, limits: Limits): Promise<{ fields: Record<string, string>; files: UploadedFile[] }> {
  const files: UploadedFile[] = [];
  return readForm(req, limits, {
    refuseExtraFiles: true,
    onFile(field, stream, filename, fail) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(tooLarge(limits)));
      stream.on('close', () => {
        // An empty file input still sends a part with no name: not a file.
        if (filename) files.push({ field, name: filename, data: Buffer.concat(chunks) });
      });
    },
    finish: (fields) => ({ fields, files }),
  });
}

/**
 * The form's one file written to `path` as it arrives (a CSV of a million rows never sits in
 * memory), with the fields. Rejects without a file.
 */
export function saveMultipartFile(req: Request, path: string, limits: Limits): Promise<{ fields: Record<string, string>; bytes: number; name: string }> {
  let saved: Promise<{ bytes: number; name: string }> | undefined;
  return readForm(req, limits, {
    refuseExtraFiles: false,
    onFile(_field, stream, filename, fail) {
      if (saved || !filename) return void stream.resume();
      saved = new Promise((ok, ko) => {
        const out = fs.createWriteStream(path);
        let bytes = 0;
        stream.on('data', (c: Buffer) => (bytes += c.length));
        stream.on('limit', () => ko(tooLarge(limits)));
        stream.pipe(out);
        out.on('finish', () => ok({ bytes, name: filename }));
        out.on('error', ko);
      });
      saved.catch(fail);
    },
    async finish(fields) {
      if (!saved) throw new AppError('invalid_input', 'choose a file to upload');
      return { fields, ...(await saved) };
    },
  });
}
