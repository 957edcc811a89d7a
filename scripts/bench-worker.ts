/**
 * One worker process for `npm run bench:send`: what `broadsheet worker` runs
 * (runProcess with the queue workers and no HTTP server), from the TypeScript sources, so the
 * benchmark measures the code in the tree without a build. Configured by the environment
 * (DATABASE_URL, REDIS_URL, REDIS_PREFIX, SMTP_URL, SEND_CONCURRENCY, SEND_BATCH_SIZE, …);
 * stops on SIGTERM/SIGINT like the real one.
 */
import { loadConfig } from '../src/config';
import { runProcess } from '../src/main';

runProcess(loadConfig(), { http: false, workers: true }).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
