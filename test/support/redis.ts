// The test Redis, with a logical database of each test file's own: files that flush or own fixed keys (leases,
// streams, seqs) run in parallel without touching each other. Pub/sub is server-wide: use unique symbols and users.

/** Logical databases of the test Redis (global setup and .ci/run start it with this many). */
export const TEST_REDIS_DATABASES = 64;

/** One database per test file (or per group of files sharing fixtures), in one place so none is used twice. */
export const TEST_REDIS_DBS = {
  services: 0,
  'commands-api': 1,
  accounts: 2,
  runtime: 3,
  'ops-routes': 4,
  'http-api': 5,
  'server-ws': 6,
  'hub-resume': 7,
  'accounts-scale': 8,
  'feed-actor': 9,
  'free-tier-property': 10,
  'redis-lease': 11,
  'redis-publish': 12,
  'redis-delay': 13,
  'redis-demand': 14,
  'redis-bar-close': 15,
  'role-process': 16,
  'server-backpressure': 17,
  'gateway-process': 18,
  'hub-fanin': 19,
  'private-events': 20,
  'sse-backpressure': 21,
  'paper-api': 22,
  'paper-sdk': 23,
  workers: 24,
  'mbt-orders': 25,
  'rate-limit': 26,
  signals: 40,
  'mbt-quotes': 41,
  'live-oauth': 42,
  'live-broker': 43,
  'live-actor': 44,
  'live-browser': 45,
  'live-workers': 46,
  'live-webauthn': 47,
  'live-kms': 48,
  'live-api': 49,
  'live-crash': 50,
  'mbt-scale': 51,
  'bench-orders': 52,
  'quote-router': 53,
  'runtime-wakeups': 54,
  'runtime-solo': 55,
  'runtime-linger': 56,
  'workers-retention': 57,
} as const;
export type TestRedisDb = keyof typeof TEST_REDIS_DBS;

const used = new Map<number, string>();
for (const [name, db] of Object.entries(TEST_REDIS_DBS)) {
  if (used.has(db)) throw new Error(`test Redis database ${db} is given to both ${used.get(db)} and ${name}`);
  if (db >= TEST_REDIS_DATABASES) throw new Error(`test Redis database ${db} (${name}) is outside 0..${TEST_REDIS_DATABASES - 1}`);
  used.set(db, name);
}

/** URL of the test Redis on the database of `name` (see TEST_REDIS_DBS). */
export function testRedisUrl(name: TestRedisDb): string {
  const u = new URL(process.env.RAXX_TEST_REDIS_URL!);
  u.pathname = `/${TEST_REDIS_DBS[name]}`;
  return u.toString();
}
