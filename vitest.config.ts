import { defineConfig } from 'vitest/config';

// CI names a file here to get a JSON report beside the usual output (.ci/run prints its summary).
const report = process.env.METERWAY_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: report ? ['default', ['json', { outputFile: report }]] : ['default'],
  },
});
