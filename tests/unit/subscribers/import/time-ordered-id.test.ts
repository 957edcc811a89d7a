import { timeOrderedId } from '../../../../src/subscribers/import/time-ordered-id';

describe('timeOrderedId', () => {
  it('makes UUIDv7 ids that stay distinct and in order across refills of its random pool', () => {
    // The pool holds 4,096 ids' worth of random bytes: 10,000 ids cross two refills.
    const ids = Array.from({ length: 10_000 }, () => timeOrderedId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('puts the current time in its first 48 bits', () => {
    const before = Date.now();
    const id = timeOrderedId();
    const msecs = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(msecs).toBeGreaterThanOrEqual(before);
    expect(msecs).toBeLessThanOrEqual(Date.now());
  });
});
