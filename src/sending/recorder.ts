/** What became of one claimed delivery in a batch job. */
export interface Outcome {
  id: number;
  status: 'sent' | 'bounced' | 'suppressed' | 'failed' | 'pending';
  response: string;
  /** Whether SMTP was asked (counts as an attempt), or the row was only set aside. */
  tried: boolean;
  /** For a bounce: the subscription that stops getting mail. */
  subscriptionId?: string;
}

export interface RecorderOptions {
  /** A write is started once this many results wait. */
  flushSize: number;
  /** First wait after a failed write; doubled up to `retryMaxMs`. */
  retryFirstMs: number;
  retryMaxMs: number;
  /** Told about each failed write (the database is away); the results are kept. */
  onWriteFailed?: (err: unknown, rows: number) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A batch job's results, written in bulk. A result that cannot be written (PostgreSQL
 * restarting) is kept and written again until it is: a message that went out must never be
 * sent again because its row said "pending" for a few seconds.
 *
 * Why not `p = p.then(write)`: a promise chain that has rejected stays rejected, so after one
 * failed write every later write, the final one included, would silently never run (issue 14:
 * 2,826 of 10,000 messages sent twice after a PostgreSQL restart). Here one loop owns the
 * writing and never rejects; `settled()` waits for it until the buffer is empty.
 */
export class Recorder {
  private buffer: Outcome[] = [];
  private readonly recorded = new Set<number>();
  private writing: Promise<void> | undefined;
  /** Results in the write that is running. */
  private inWrite = 0;

  constructor(
    private readonly write: (outcomes: Outcome[]) => Promise<void>,
    private readonly options: RecorderOptions,
  ) {}

  add(outcome: Outcome): void {
    this.buffer.push(outcome);
    this.recorded.add(outcome.id);
    if (this.buffer.length >= this.options.flushSize) this.flush();
  }

  /** Whether a result for this delivery was added (written or waiting). */
  has(id: number): boolean {
    return this.recorded.has(id);
  }

  /** Results added but not yet written. */
  get waiting(): number {
    return this.buffer.length;
  }

  /** Results added and not yet in the database: waiting, or in the write that is running. */
  get unwritten(): number {
    return this.buffer.length + this.inWrite;
  }

  /**
   * Resolves once fewer than `limit` results are unwritten, writing what waits meanwhile. A
   * sender that waits for this before each message bounds what a crash can leave unrecorded
   * (and so send twice) by code, however slow the database or the machine is.
   */
  async room(limit: number): Promise<void> {
    while (this.unwritten >= limit) {
      this.flush();
      await this.writing;
    }
  }

  /** Starts writing what waits, unless a write is running (it takes the rest when it ends). */
  flush(): void {
    if (this.writing || this.buffer.length === 0) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
    });
  }

  /** Resolves once every result added so far is written, however many tries that takes. */
  async settled(): Promise<void> {
    while (this.buffer.length > 0 || this.writing) {
      this.flush();
      await this.writing;
    }
  }

  private async drain(): Promise<void> {
    let failures = 0;
    while (this.buffer.length > 0) {
      const batch = this.buffer;
      this.buffer = [];
      this.inWrite = batch.length;
      try {
        await this.write(batch);
        this.inWrite = 0;
        failures = 0;
        // Small leftovers wait for the next tick of the flush timer: fewer, bigger writes.
        if (this.buffer.length < this.options.flushSize) return;
      } catch (err) {
        this.inWrite = 0;
        this.buffer = batch.concat(this.buffer);
        this.options.onWriteFailed?.(err, batch.length);
        await sleep(Math.min(this.options.retryFirstMs * 2 ** failures, this.options.retryMaxMs));
        failures++;
      }
    }
  }
}
