import type { SendStatus } from '../db/schema';

/**
 * An issue counts as sent once its send has started: readers may have it in their inbox. The
 * archive shows exactly these, and the monthly digest covers exactly these; one definition, so
 * the digest never links a weekly the archive would answer 404 for. Drafts, scheduled issues,
 * sends still planning and sends cancelled before they started are not.
 */
export const SENT_STATUSES: readonly SendStatus[] = ['sending', 'paused', 'done'];
