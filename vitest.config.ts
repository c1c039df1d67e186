// Test runner settings: real Redis and PostgreSQL come from the global setup; files run in parallel.
import { defineConfig } from 'vitest/config';

// .ci/run asks for a JSON report to print its one-line summary.
const report = process.env.RAXX_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    reporters: report ? ['default', ['json', { outputFile: report }]] : ['default'],
  },
});
