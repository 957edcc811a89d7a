import { Recorder, type Outcome } from '../../../src/sending/recorder';

const sent = (id: number): Outcome => ({ id, status: 'sent', response: '250 ok', tried: true });

function store(failFirst: number) {
  const written: number[] = [];
  let calls = 0;
  return {
    written,
    get calls() {
      return calls;
    },
    async write(outcomes: Outcome[]) {
      calls++;
      if (calls <= failFirst) throw new Error('Connection terminated unexpectedly');
      written.push(...outcomes.map((o) => o.id));
    },
  };
}

test('a failed write is retried until it succeeds, and later results are written too (no rejected chain)', async () => {
  const db = store(3);
  const failures: number[] = [];
  const recorder = new Recorder((o) => db.write(o), { flushSize: 1000, retryFirstMs: 1, retryMaxMs: 4, onWriteFailed: (_e, rows) => failures.push(rows) });
  recorder.add(sent(1));
  recorder.add(sent(2));
  recorder.flush();
  // Added while the first write is still failing: must not be lost behind it.
  recorder.add(sent(3));
  await recorder.settled();
  recorder.add(sent(4));
  await recorder.settled();
  expect(db.written.sort()).toEqual([1, 2, 3, 4]);
  expect(failures.length).toBe(3);
  expect(recorder.waiting).toBe(0);
});

test('settled() waits for as long as the database is away', async () => {
  const db = store(20);
  const recorder = new Recorder((o) => db.write(o), { flushSize: 1000, retryFirstMs: 1, retryMaxMs: 2 });
  recorder.add(sent(7));
  await recorder.settled();
  expect(db.calls).toBe(21);
  expect(db.written).toEqual([7]);
});

test('a full buffer starts a write by itself; one write runs at a time', async () => {
  let running = 0;
  let most = 0;
  const written: number[] = [];
  const recorder = new Recorder(
    async (o) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      written.push(...o.map((x) => x.id));
      running--;
    },
    { flushSize: 3, retryFirstMs: 1, retryMaxMs: 1 },
  );
  for (let i = 1; i <= 10; i++) recorder.add(sent(i));
  expect(running).toBe(1); // the first 3 went without waiting for a timer
  await recorder.settled();
  expect(written.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(most).toBe(1);
  expect(recorder.has(4)).toBe(true);
  expect(recorder.has(11)).toBe(false);
});
