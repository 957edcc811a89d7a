import type mjml2htmlType from 'mjml';
import { AppError } from '../errors';

/** Options that differ between callers; strict validation, no web fonts and no comments always. */
export interface MjmlOptions {
  /** Where `mj-include` paths resolve from (system emails include their shared parts). */
  filePath?: string;
  ignoreIncludes?: boolean;
}

/** MJML source → HTML. Two ways to run it: here (`compileMjmlHere`) or in a child (mjml-process.ts). */
export type CompileMjml = (source: string, options?: MjmlOptions) => Promise<string>;

let loaded: Promise<typeof mjml2htmlType> | undefined;

/**
 * MJML in this process. It is loaded on first use: it takes most of a second and some 65 MB,
 * which the web process pays only when it renders a web version, and the CLI only for `render`.
 */
export const compileMjmlHere: CompileMjml = async (source, options = {}) => {
  const mjml2html = await (loaded ??= import('mjml').then((m) => m.default));
  let result: Awaited<ReturnType<typeof mjml2htmlType>>;
  try {
    // fonts: {} keeps MJML from linking Google Fonts; keepComments: false drops comments.
    result = await mjml2html(source, { validationLevel: 'strict', keepComments: false, fonts: {}, ...options });
  } catch (err) {
    const errors = (err as { errors?: unknown }).errors;
    throw new AppError('internal', `MJML did not compile: ${(err as Error).message}`, errors);
  }
  if (result.errors.length > 0) throw new AppError('internal', `MJML reported ${result.errors.length} errors`, result.errors);
  return result.html;
};
