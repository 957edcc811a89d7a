import type { Queues } from '../queues';
import type { SendStore } from './repository';

export interface PlanDeps {
  store: Pick<SendStore, 'findSend' | 'planChunk' | 'moveSend' | 'finishSendIfDone' | 'unsentBatches'>;
  queues: Pick<Queues, 'addBulk'>;
}

/**
 * Writes one delivery row per recipient of a send, then queues its batch jobs. Set-based
 * (the store's `planChunk`: `INSERT … SELECT` in chunks, keyset paging over the subscriptions
 * in id order), so a million recipients never sit in memory, and each chunk commits with the
 * point it reached, so planning interrupted by a crash resumes there.
 *
 * Recipients: active, not paused, of the cadence the issue is for. Preferences that change
 * after planning are checked again by the batch job, just before sending.
 */
export async function planSend(deps: PlanDeps, sendId: string): Promise<'planned' | 'not planning'> {
  const { store } = deps;
  for (;;) {
    const send = await store.findSend(sendId);
    if (!send || send.status !== 'planning') return 'not planning';
    const chunk = await store.planChunk(send);
    if (!chunk.more) break;
  }

  const planned = await store.moveSend(sendId, ['planning'], { status: 'sending', planned_at: new Date() });
  if (!planned) return 'not planning'; // paused or cancelled meanwhile
  // A list with nobody to send to is done at once.
  if (await store.finishSendIfDone(sendId)) return 'planned';
  await deps.queues.addBulk('send-batch', await store.unsentBatches(planned));
  return 'planned';
}
