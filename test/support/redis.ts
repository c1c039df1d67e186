// The test Redis with a database number of the test file's own, so files that touch fixed keys run in parallel.

export function testRedisUrl(db: number): string {
  const u = new URL(process.env.RAXX_TEST_REDIS_URL!);
  u.pathname = `/${db}`;
  return u.toString();
}
