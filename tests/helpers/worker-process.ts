/**
 * A `broadsheet worker` as its own process, for tests that kill it: the real runProcess with
 * the configuration from the environment (DATABASE_URL, REDIS_URL, REDIS_PREFIX, SMTP_URL, …).
 */
import { loadConfig } from '../../src/config';
import { runProcess } from '../../src/main';

runProcess(loadConfig(), { http: false, workers: true }).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
