/**
 * The MJML compiler as a child process of a worker (see mjml-process.ts): one request at a time
 * over IPC, answered with the HTML or the error. Exits with its parent.
 */
import { compileMjmlHere, type MjmlOptions } from './mjml';

interface Request {
  id: number;
  source: string;
  options?: MjmlOptions;
}

process.on('message', (request: Request) => {
  compileMjmlHere(request.source, request.options).then(
    (html) => process.send!({ id: request.id, html }),
    (err: Error & { details?: unknown }) => process.send!({ id: request.id, error: { message: err.message, details: err.details } }),
  );
});
// The IPC channel closes when the worker exits, however it exits (also kill -9).
process.on('disconnect', () => process.exit(0));
