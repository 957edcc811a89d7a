import { loadConfig, parseDuration } from '../../../src/config';
import { circuitView, gate, opened, probeFailed } from '../../../src/sending/circuit';

const settings = { openAfter: 10, firstBackoffMs: 5000, maxBackoffMs: 300_000, giveUpAfterMs: 3_600_000 };
const t0 = new Date('2026-12-07T09:02:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const closed = { failing_since: null, retry_at: null, backoff_ms: 0, last_error: null };

test('closed, waiting, probe due', () => {
  expect(gate(closed, t0)).toEqual({ kind: 'closed' });
  const open = opened(settings, t0, '421 too busy');
  expect(open).toEqual({ failing_since: t0, retry_at: at(5000), backoff_ms: 5000, last_error: '421 too busy' });
  expect(gate(open, at(4999))).toEqual({ kind: 'wait', until: at(5000) });
  expect(gate(open, at(5000))).toEqual({ kind: 'probe' });
});

test('each failed probe doubles the wait, up to 5 minutes; after an hour of nothing but failures it gives up', () => {
  let columns = opened(settings, t0, 'ECONNREFUSED');
  let now = t0;
  const waits: number[] = [];
  for (;;) {
    now = columns.retry_at!;
    const after = probeFailed(columns, settings, now, 'ECONNREFUSED', 'Europe/Berlin');
    if (after.kind === 'give up') {
      expect(after.reason).toBe('paused itself: SMTP refused every message since 10:02 Europe/Berlin (ECONNREFUSED); check the SMTP server, then resume');
      break;
    }
    waits.push(after.waitMs);
    columns = after.columns;
    expect(columns.failing_since).toEqual(t0); // since when: kept from the first failure
  }
  expect(waits.slice(0, 7)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  expect(now.getTime() - t0.getTime()).toBeGreaterThanOrEqual(3_600_000);
  expect(now.getTime() - t0.getTime()).toBeLessThan(3_600_000 + 300_000);
});

test("what the editor reads: times in the list's zone", () => {
  expect(circuitView(closed, 'Asia/Shanghai')).toMatchObject({ state: 'closed', text: null });
  const view = circuitView(
    { failing_since: t0, retry_at: at(4 * 60_000), backoff_ms: 240_000, last_error: '421 4.3.2 service not available' },
    'Europe/Berlin',
  );
  expect(view).toMatchObject({ state: 'waiting', failingSince: t0, nextTryAt: at(240_000) });
  expect(view.text).toBe('SMTP refusing since 10:02 Europe/Berlin, next try 10:06 Europe/Berlin (421 4.3.2 service not available)');
  expect(circuitView({ failing_since: t0, retry_at: at(0), backoff_ms: 0, last_error: null }, 'Asia/Shanghai').text).toBe(
    'SMTP refusing since 17:02 Asia/Shanghai, next try 17:02 Asia/Shanghai',
  );
});

test('SEND_GIVE_UP_AFTER and the breaker settings', () => {
  expect(parseDuration('1h')).toBe(3_600_000);
  expect(parseDuration('90s')).toBe(90_000);
  expect(parseDuration('2h30m')).toBe(9_000_000);
  expect(parseDuration('600')).toBe(600_000);
  expect(parseDuration('soon')).toBeUndefined();
  expect(loadConfig({}).circuit).toEqual({ openAfter: 10, firstBackoffMs: 5000, maxBackoffMs: 300_000, giveUpAfterMs: 3_600_000 });
  expect(loadConfig({ SEND_GIVE_UP_AFTER: '30m', SEND_BACKOFF_FIRST_SECONDS: '1' }).circuit).toMatchObject({ firstBackoffMs: 1000, giveUpAfterMs: 1_800_000 });
  expect(() => loadConfig({ SEND_GIVE_UP_AFTER: 'a while' })).toThrow(/SEND_GIVE_UP_AFTER must be a duration such as 1h/);
});
