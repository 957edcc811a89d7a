import type { Request, Response } from 'express';
import { AppError, isAppError } from '../../errors';
import type { AppDeps } from '../../http/deps';
import { pageErrors } from '../../http/errors';
import type { InputField } from '../input';
import { createSubscribeLimits, type SubscribeLimits } from '../rate-limits';
import type { SubscriberDeps } from '../service';
import { signToken, type TokenPurpose } from '../tokens';

/**
 * What the reader's link routers share: the services' dependencies, the per-client limit and
 * the link signer, built once per app by `subscriberRoutes`.
 */
export interface ReaderContext {
  deps: AppDeps;
  service: SubscriberDeps;
  limits: SubscribeLimits;
  /** A signed link token for one subscription. */
  token(purpose: TokenPurpose, subscriptionId: string): string;
}

export function readerContext(deps: AppDeps): ReaderContext {
  const limits = createSubscribeLimits(deps.redis, {
    subscribeRatePerIp: deps.config.subscribeRatePerIp,
    // The queues' prefix keeps one deployment's (or one test's) counters apart from another's.
    keyPrefix: deps.queues.prefix,
  });
  return {
    deps,
    limits,
    service: { db: deps.db, config: deps.config, queues: deps.queues, limits },
    token: (purpose, subscriptionId) => signToken(deps.config.secretKeys, purpose, subscriptionId),
  };
}

/**
 * Takes one request from the client's budget (for anything that can send an email), or throws
 * `rate_limited` with Retry-After set; the error answer is a page or JSON like any other.
 */
export async function takeClient(ctx: ReaderContext, req: Request, res: Response): Promise<void> {
  const verdict = await ctx.limits.takeClient(req.ip);
  if (verdict.ok) return;
  res.set('Retry-After', String(verdict.retryAfterSeconds));
  throw new AppError('rate_limited', `too many requests; try again in ${verdict.retryAfterSeconds} s`);
}

/** The form field an input error is about, so the page can mark it; undefined for any other error. */
export function fieldOf(err: unknown): InputField | undefined {
  if (!isAppError(err) || err.code !== 'invalid_input') return undefined;
  const field = (err.details as { field?: unknown } | undefined)?.field;
  return field === 'email' || field === 'name' || field === 'cadence' || field === 'sections' ? field : undefined;
}

/** Errors on a link's pages: a page, and a bad token reads as a bad link. */
export const linkPageErrors = pageErrors({ invalidInput: 'invalid_link' });
