// The Redis sliding-window limiter on real Redis (DB 4): exact boundaries, two "replicas", sliding, retry-after, races.
// DB 4 is shared with the ops tests: every test uses its own random scope, nothing is flushed.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequestsPerMinute } from '../../../src/domain/index.js';
import { closeRedis, createRedis, type Redis } from '../../../src/infra/redis/index.js';
import { RateLimitInputError, createRedisRateLimiter, createRedisRequestLimiter, rateLimitKey } from '../../../src/infra/rate-limit/index.js';
import type { RequestLimiter } from '../../../src/gateway/http/request-limiter.js';
import { sleep } from '../../support/wait.js';
import { testRedisUrl } from '../../support/redis.js';

const redisUrl = () => testRedisUrl('rate-limit');

let a: Redis;
let b: Redis;
const scope = () => `t-${randomUUID().slice(0, 8)}`;

beforeAll(() => {
  a = createRedis(redisUrl(), 'rl-test-a');
  b = createRedis(redisUrl(), 'rl-test-b');
});

afterAll(async () => {
  await Promise.all([closeRedis(a), closeRedis(b)]);
});

describe('Redis rate limiter', () => {
  it('allows exactly `limit` requests per window, counting remaining down, then refuses', async () => {
    const limiter = createRedisRateLimiter(a);
    const s = scope();
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await limiter.limit(s, 'u1', 5, 60_000));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(decisions[0]!.retryAfterMs).toBe(0);
    expect(decisions[5]).toMatchObject({ allowed: false, limit: 5, remaining: 0 });
    // Another subject, and the same subject on another scope, have their own budgets.
    expect((await limiter.limit(s, 'u2', 5, 60_000)).allowed).toBe(true);
    expect((await limiter.limit(`${s}-other`, 'u1', 5, 60_000)).allowed).toBe(true);
    // A limit of 0 refuses everything.
    expect((await limiter.limit(s, 'u3', 0, 60_000)).allowed).toBe(false);
    expect(await a.pttl(rateLimitKey(s, 'u1'))).toBeGreaterThan(59_000);
  });

  it('two limiter instances on two connections ("replicas") share one budget', async () => {
    const one = createRedisRateLimiter(a);
    const two = createRedisRateLimiter(b);
    const s = scope();
    let allowed = 0;
    for (let i = 0; i < 10; i++) {
      const d = await (i % 2 === 0 ? one : two).limit(s, 'shared', 7, 60_000);
      if (d.allowed) allowed++;
    }
    expect(allowed).toBe(7);
    expect((await two.limit(s, 'shared', 7, 60_000)).allowed).toBe(false);
    expect((await one.limit(s, 'shared', 7, 60_000)).allowed).toBe(false);
  });

  it('the window slides: requests free up one by one as they age out, and retry-after says when', async () => {
    const limiter = createRedisRateLimiter(a);
    const s = scope();
    const windowMs = 1000;
    for (let i = 0; i < 3; i++) expect((await limiter.limit(s, 'u', 5, windowMs)).allowed).toBe(true);
    await sleep(500);
    for (let i = 0; i < 2; i++) expect((await limiter.limit(s, 'u', 5, windowMs)).allowed).toBe(true);
    const refused = await limiter.limit(s, 'u', 5, windowMs);
    expect(refused.allowed).toBe(false);
    // The first three expire ~1000 ms after they were made, ~500 ms from now.
    expect(refused.retryAfterMs).toBeGreaterThan(300);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(520);
    expect(refused.retryAfterSeconds).toBe(1);

    await sleep(refused.retryAfterMs + 20);
    // Only the first three aged out: exactly three more fit, the later two still count.
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await limiter.limit(s, 'u', 5, windowMs));
    expect(after.map((d) => d.allowed)).toEqual([true, true, true, false]);
    // Now the oldest entries are the two from t+500: they free up within ~500 ms, not a full window.
    expect(after[3]!.retryAfterMs).toBeLessThanOrEqual(520);
  });

  it('retry-after names the moment the next request is allowed (a 60 s window, seconds rounded up)', async () => {
    const limiter = createRedisRateLimiter(a);
    const s = scope();
    await limiter.limit(s, 'u', 1, 60_000);
    const refused = await limiter.limit(s, 'u', 1, 60_000);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 60 });
    expect(refused.retryAfterMs).toBeGreaterThan(59_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);

    // Short window: waiting retry-after is enough, and not much less would be.
    const t = scope();
    await limiter.limit(t, 'u', 1, 400);
    const r = await limiter.limit(t, 'u', 1, 400);
    expect(r.allowed).toBe(false);
    await sleep(Math.max(0, r.retryAfterMs - 150));
    expect((await limiter.limit(t, 'u', 1, 400)).allowed).toBe(false);
    await sleep(200);
    expect((await limiter.limit(t, 'u', 1, 400)).allowed).toBe(true);
  });

  it('200 parallel checks against a limit of 60 from two replicas: exactly 60 allowed', async () => {
    const one = createRedisRateLimiter(a);
    const two = createRedisRateLimiter(b);
    const s = scope();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? one : two).limit(s, 'race', 60, 60_000)));
    expect(results.filter((d) => d.allowed)).toHaveLength(60);
    expect(new Set(results.filter((d) => d.allowed).map((d) => d.remaining)).size).toBe(60);
    expect(await a.zcard(rateLimitKey(s, 'race'))).toBe(60);
  });

  it('refuses malformed input before touching Redis', async () => {
    const limiter = createRedisRateLimiter(a);
    await expect(limiter.limit('', 'u', 1, 1000)).rejects.toBeInstanceOf(RateLimitInputError);
    await expect(limiter.limit('s', 'a b', 1, 1000)).rejects.toBeInstanceOf(RateLimitInputError);
    await expect(limiter.limit('s', 'u', 1.5, 1000)).rejects.toBeInstanceOf(RateLimitInputError);
    await expect(limiter.limit('s', 'u', 1, 0)).rejects.toBeInstanceOf(RateLimitInputError);
  });
});

describe('several budgets of one subject in one call (limitAll)', () => {
  it('counts them in order as separate calls would: the first refusal stops the rest, earlier ones keep their count', async () => {
    const limiter = createRedisRateLimiter(a);
    const [wide, narrow] = [scope(), scope()];
    const both = () => limiter.limitAll('u1', [{ scope: wide, limit: 4, windowMs: 60_000 }, { scope: narrow, limit: 2, windowMs: 60_000 }]);
    const first = await both();
    expect(first).toMatchObject({ allowed: true, refusedBy: null, limit: 2, remaining: 1, retryAfterMs: 0 });
    expect(first.budgets.map((d) => [d.allowed, d.remaining])).toEqual([[true, 3], [true, 1]]);
    expect((await both()).allowed).toBe(true);
    // The narrow budget is spent: the wide one still counts the request, the narrow one does not.
    const third = await both();
    expect(third).toMatchObject({ allowed: false, refusedBy: 1, limit: 2, remaining: 0 });
    expect(third.retryAfterSeconds).toBe(60);
    expect(third.budgets.map((d) => d.allowed)).toEqual([true, false]);
    expect(await a.zcard(rateLimitKey(wide, 'u1'))).toBe(3);
    expect(await a.zcard(rateLimitKey(narrow, 'u1'))).toBe(2);
    // The wide one spent too (4): refused first, so the narrow one is not even asked (remaining -1) and nothing counts.
    expect((await both()).refusedBy).toBe(1);
    const fifth = await both();
    expect(fifth).toMatchObject({ allowed: false, refusedBy: 0, limit: 4 });
    expect(fifth.budgets.map((d) => d.remaining)).toEqual([0, -1]);
    expect(await a.zcard(rateLimitKey(wide, 'u1'))).toBe(4);
    expect(await a.zcard(rateLimitKey(narrow, 'u1'))).toBe(2);
    // Every key of one subject shares its hash tag: one Redis Cluster slot, so one script may touch them all.
    expect(rateLimitKey(wide, 'u1').match(/\{(.*)\}/)?.[1]).toBe('u1');
    expect(rateLimitKey(narrow, 'u1').match(/\{(.*)\}/)?.[1]).toBe('u1');
    await expect(limiter.limitAll('u1', [])).rejects.toBeInstanceOf(RateLimitInputError);
  });
});

describe('createRedisRequestLimiter (the gateway RequestLimiter port)', () => {
  it('counts an extra budget (the command budget) in the same call and says which budget refused', async () => {
    const s = scope();
    const cmd = scope();
    const limiter: RequestLimiter = createRedisRequestLimiter(a, { perMinute: { free: 3, pro: 600, pro_plus: 3000 }, scope: s });
    const extra = { scope: cmd, limit: 2, windowMs: 1000 };
    const d = [];
    for (let i = 0; i < 4; i++) d.push(await limiter.check('x', 'free', extra));
    expect(d.map((x) => x.allowed)).toEqual([true, true, false, false]);
    // Third: the HTTP budget (3/min) allowed it, the command budget (2/s) refused it; fourth: the HTTP budget is spent.
    expect(d[2]).toMatchObject({ refusedBy: 'extra', limit: 2, retryAfterSeconds: 1 });
    expect(d[3]).toMatchObject({ refusedBy: 'request', limit: 3, retryAfterSeconds: 60 });
    expect(d[0]!.refusedBy).toBeUndefined();
  });


  it('gives Free 60, Pro 600 and Pro+ 3,000 requests per minute, shared by two replicas', async () => {
    const s = scope();
    const one: RequestLimiter = createRedisRequestLimiter(a, { perMinute: httpRequestsPerMinute, scope: s });
    const two: RequestLimiter = createRedisRequestLimiter(b, { perMinute: httpRequestsPerMinute, scope: s });
    for (const [tier, limit] of [['free', 60], ['pro', 600], ['pro_plus', 3000]] as const) {
      const user = `user-${tier}`;
      const results = await Promise.all(Array.from({ length: limit + 5 }, (_, i) => (i % 2 ? one : two).check(user, tier)));
      expect(results.filter((d) => d.allowed)).toHaveLength(limit);
      const refused = results.find((d) => !d.allowed)!;
      expect(refused).toMatchObject({ allowed: false, limit, remaining: 0, retryAfterSeconds: 60 });
      expect(results.find((d) => d.allowed)).toMatchObject({ retryAfterSeconds: 0, limit });
    }
  });
});
