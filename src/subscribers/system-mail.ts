import type { Queues, SystemMailJob } from '../queues';

/**
 * Asking for a system email (the confirmation link, the welcome, a preferences link, the
 * download-my-data link): a job naming the subscription. The worker renders and sends it
 * (src/system-mail/), reading the rows again when it runs.
 */
async function enqueue(queues: Queues, job: SystemMailJob): Promise<void> {
  await queues.add('system-mail', job);
}

/** Queues a confirmation email for a pending subscription (the editor-side import uses it too). */
export async function enqueueConfirmation(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'confirm', subscriptionId });
}

/** Queues the confirmation emails of many pending subscriptions at once (an import's batch). */
export async function enqueueConfirmations(queues: Queues, subscriptionIds: string[]): Promise<void> {
  await queues.addBulk(
    'system-mail',
    subscriptionIds.map((subscriptionId) => ({ kind: 'confirm', subscriptionId })),
  );
}

export async function enqueueWelcome(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'welcome', subscriptionId });
}

export async function enqueuePreferencesLink(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'preferences', subscriptionId });
}

/** The "download my data" link, asked for on the preferences page: data only ever goes to the mailbox. */
export async function enqueueDataLink(queues: Queues, subscriptionId: string): Promise<void> {
  await enqueue(queues, { kind: 'export', subscriptionId });
}
