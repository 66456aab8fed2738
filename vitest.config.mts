import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/globalSetup.ts'],
    reporters: ['default', './test/helpers/summaryReporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration tests start servers; keep parallelism modest. The pacing tests run after the
    // rest, one at a time (`npm run test:paced`, see the README).
    maxWorkers: 2,
    pool: 'forks',
  },
});
