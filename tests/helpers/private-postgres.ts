import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A PostgreSQL server of one test file's own (initdb and pg_ctl from the machine's PostgreSQL,
 * run as the postgres user, on a free port, its socket in its own folder), for fault tests
 * that stop or restart it: the shared server is never touched.
 */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT, the server part of a database URL. */
  server: string;
  start(): void;
  stop(): void;
  restart(mode: 'fast' | 'immediate'): void;
  /** Stops it at once and removes its files. */
  destroy(): void;
}

const BIN = fs.existsSync('/usr/lib/postgresql') ? path.join('/usr/lib/postgresql', fs.readdirSync('/usr/lib/postgresql').sort().at(-1)!, 'bin') : '';

function asPostgres(command: string): void {
  // initdb refuses to run as root; as another user the server runs as that user.
  const asRoot = process.getuid?.() === 0;
  const r = asRoot ? spawnSync('su', ['postgres', '-c', command], { encoding: 'utf8' }) : spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command}: ${r.stderr || r.stdout}`);
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (!BIN) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-pg-'));
  fs.chmodSync(dir, 0o777);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', dir]);
  // No fsync: the files are thrown away; a crash of the server (-m immediate) still recovers from the WAL.
  asPostgres(`${BIN}/initdb -D ${dir}/data -A trust -U postgres --no-sync >/dev/null`);
  const options = `-o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off"`;
  const start = () => asPostgres(`${BIN}/pg_ctl -D ${dir}/data ${options} -l ${dir}/log -w start >/dev/null`);
  start();
  return {
    server: `postgres://postgres@127.0.0.1:${port}`,
    start,
    stop: () => asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m fast -w stop >/dev/null`),
    restart: (mode) => asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m ${mode} -w restart ${options} >/dev/null`),
    destroy() {
      try {
        asPostgres(`${BIN}/pg_ctl -D ${dir}/data -m immediate -w stop >/dev/null`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
