import type { IssueRow, List, Send } from '../../../src/db/schema';
import type { CircuitColumns } from '../../../src/sending/circuit';
import type { Outcome } from '../../../src/sending/recorder';
import type { Claimed, Lease, SendStore } from '../../../src/sending/repository';

/**
 * The send store in memory, for unit tests of the batch job and planning: the same rules as
 * the SQL in src/sending/repository.ts (which the integration tests prove against PostgreSQL),
 * with a clock the test moves.
 */
export interface MemorySubscription {
  id: string;
  status: 'pending' | 'active' | 'unsubscribed' | 'bounced' | 'complained';
  paused: boolean;
  cadence: 'weekly' | 'monthly';
  excluded_sections: string[];
  email: string;
  name: string;
}

export interface MemoryDelivery {
  id: number;
  send_id: string;
  subscription_id: string;
  status: 'pending' | 'sent' | 'failed' | 'bounced' | 'suppressed' | 'cancelled';
  leased_until: number | null;
  leased_by: string | null;
  attempts: number;
  smtp_response: string | null;
}

export class MemoryStore implements SendStore {
  now = Date.now();
  readonly subscriptions = new Map<string, MemorySubscription>();
  readonly deliveries: MemoryDelivery[] = [];
  /** send_workers: id → last seen (ms). */
  readonly workers = new Map<string, number>();
  readonly bounced: string[] = [];
  /** Set to make the next N writes of results fail (a database restarting). */
  failWrites = 0;
  /** Set to make each write of results take this long (a slow database). */
  writeDelayMs = 0;
  writes = 0;
  send: Send;

  constructor(
    readonly issue: IssueRow,
    readonly list: List,
    send: Partial<Send> = {},
  ) {
    this.send = {
      id: 'send-1',
      issue_id: issue.id,
      list_id: list.id,
      cadence: 'weekly',
      status: 'sending',
      scheduled_at: null,
      started_at: new Date(this.now),
      finished_at: null,
      batch_size: 100,
      planned: 0,
      planned_through: null,
      planned_at: new Date(this.now),
      pause_reason: null,
      failure_streak: 0,
      failing_since: null,
      retry_at: null,
      backoff_ms: 0,
      last_error: null,
      created_at: new Date(this.now),
      updated_at: new Date(this.now),
      ...send,
    };
  }

  subscribe(n: number, options: Partial<MemorySubscription> = {}, tag = 'r'): MemorySubscription[] {
    const made: MemorySubscription[] = [];
    for (let i = 0; i < n; i++) {
      const n = this.subscriptions.size + 1;
      // Subscription ids are UUIDs (links are signed with them); these sort in the order made.
      const id = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
      const email = `${tag}-${String(n).padStart(6, '0')}@example.org`;
      const sub: MemorySubscription = { id, status: 'active', paused: false, cadence: 'weekly', excluded_sections: [], email, name: '', ...options };
      this.subscriptions.set(id, sub);
      made.push(sub);
    }
    return made;
  }

  /** Delivery rows for these subscriptions, as planning writes them. */
  plan(subs: MemorySubscription[]): void {
    for (const s of subs) this.deliveries.push(this.newDelivery(s.id));
  }

  private newDelivery(subscriptionId: string): MemoryDelivery {
    return {
      id: this.deliveries.length,
      send_id: this.send.id,
      subscription_id: subscriptionId,
      status: 'pending',
      leased_until: null,
      leased_by: null,
      attempts: 0,
      smtp_response: null,
    };
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const d of this.deliveries) c[d.status] = (c[d.status] ?? 0) + 1;
    return c;
  }

  private claimable(d: MemoryDelivery, lease: { by?: string; goneAfterMs: number }): boolean {
    if (d.leased_until === null || d.leased_until < this.now) return true;
    if (d.leased_by === null || d.leased_by === lease.by) return false;
    const seen = this.workers.get(d.leased_by);
    return seen === undefined || seen <= this.now - lease.goneAfterMs;
  }

  async findSend(sendId: string) {
    return sendId === this.send.id ? { ...this.send } : undefined;
  }
  async loadSend(sendId: string) {
    return sendId === this.send.id ? { send: { ...this.send }, issue: this.issue, list: this.list } : undefined;
  }
  async coverTitles() {
    return undefined;
  }
  async claimBatch(send: Pick<Send, 'id' | 'batch_size'>, batch: number, lease: Lease): Promise<Claimed[]> {
    const lo = batch * send.batch_size;
    const hi = lo + send.batch_size;
    const rows = this.deliveries.filter((d) => d.send_id === send.id && d.id >= lo && d.id < hi && d.status === 'pending' && this.claimable(d, lease));
    return rows.map((d) => {
      d.leased_until = this.now + lease.ms;
      d.leased_by = lease.by;
      const s = this.subscriptions.get(d.subscription_id);
      return {
        id: d.id,
        subscription_id: d.subscription_id,
        attempts: d.attempts,
        status: s?.status ?? null,
        paused: s?.paused ?? null,
        cadence: s?.cadence ?? null,
        excluded_sections: s?.excluded_sections ?? null,
        email: s?.email ?? null,
        name: s?.name ?? null,
      };
    });
  }
  async recheckSend(_sendId: string, ids: string[]) {
    const unsendable = ids.filter((id) => {
      const s = this.subscriptions.get(id);
      return !s || s.status !== 'active' || s.paused;
    });
    return { sendStatus: this.send.status, unsendable, retryAt: this.send.retry_at };
  }
  async recordOutcomes(_sendId: string, outcomes: Outcome[]) {
    this.writes++;
    if (this.writeDelayMs) await new Promise((r) => setTimeout(r, this.writeDelayMs));
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new Error('Connection terminated unexpectedly');
    }
    for (const o of outcomes) {
      const d = this.deliveries[o.id]!;
      if (!(d.status === 'pending' || (o.status === 'sent' && d.status === 'cancelled'))) continue;
      d.status = o.status;
      d.smtp_response = o.response;
      d.attempts += o.tried ? 1 : 0;
      if (o.status === 'pending') {
        d.leased_until = null;
      }
      if (o.status === 'bounced' && o.subscriptionId) {
        const s = this.subscriptions.get(o.subscriptionId);
        if (s && (s.status === 'active' || s.status === 'pending')) {
          s.status = 'bounced';
          this.bounced.push(s.id);
        }
      }
    }
  }
  async releaseDeliveries(ids: number[]) {
    for (const id of ids) {
      const d = this.deliveries[id]!;
      if (d.status === 'pending') {
        d.leased_until = null;
        d.leased_by = null;
      }
    }
  }
  async unsentBatches(send: Pick<Send, 'id' | 'batch_size'>, goneAfterMs = 15_000) {
    const batches = new Set<number>();
    for (const d of this.deliveries)
      if (d.send_id === send.id && d.status === 'pending' && this.claimable(d, { goneAfterMs })) batches.add(Math.floor(d.id / send.batch_size));
    return [...batches].sort((a, b) => a - b).map((batch) => ({ sendId: send.id, batch }));
  }
  async finishSendIfDone(sendId: string) {
    if (sendId !== this.send.id || !['sending', 'paused'].includes(this.send.status) || !this.send.planned_at) return false;
    if (this.deliveries.some((d) => d.status === 'pending')) return false;
    this.send = { ...this.send, status: 'done', finished_at: new Date(this.now) };
    return true;
  }
  /** Planning in chunks of `chunk` (the SQL's is 20,000). */
  chunk = 3;
  async planChunk(send: Send) {
    const candidates = [...this.subscriptions.values()]
      .filter((s) => s.cadence === send.cadence && s.status === 'active' && !s.paused && (!send.planned_through || s.id > send.planned_through))
      .sort((a, b) => a.id.localeCompare(b.id))
      .slice(0, this.chunk);
    let inserted = 0;
    for (const s of candidates) {
      if (this.deliveries.some((d) => d.subscription_id === s.id)) continue;
      this.deliveries.push(this.newDelivery(s.id));
      inserted++;
    }
    if (candidates.length) this.send = { ...this.send, planned: this.send.planned + inserted, planned_through: candidates.at(-1)!.id };
    return { inserted, picked: candidates.length, more: candidates.length >= this.chunk };
  }
  async moveSend(sendId: string, from: readonly Send['status'][], set: Partial<Send>) {
    if (sendId !== this.send.id || !from.includes(this.send.status)) return undefined;
    this.send = { ...this.send, ...set };
    return { ...this.send };
  }
  async openCircuit(_sendId: string, columns: CircuitColumns) {
    if (this.send.failing_since) return false;
    this.send = { ...this.send, ...columns };
    return true;
  }
  async takeProbe(_sendId: string, seen: Date, holdUntil: Date) {
    if (this.send.retry_at?.getTime() !== seen.getTime() || seen.getTime() > Date.now()) return false;
    this.send = { ...this.send, retry_at: holdUntil };
    return true;
  }
  async probeFailed(_sendId: string, columns: CircuitColumns) {
    if (!this.send.failing_since) return;
    this.send = { ...this.send, retry_at: columns.retry_at, backoff_ms: columns.backoff_ms, last_error: columns.last_error };
  }
  async closeCircuit() {
    this.send = { ...this.send, failing_since: null, retry_at: null, backoff_ms: 0, last_error: null, failure_streak: 0 };
  }
}
