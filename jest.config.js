/** Jest: TypeScript via swc; one Temporal dev server and one PostgreSQL cluster per run (global setup). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Test runs keep PostgreSQL clusters under .dev/: never modules, tests or snapshots.
  modulePathIgnorePatterns: ['<rootDir>/.dev/'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 180000,
  // The suite shares one Temporal server and one PostgreSQL; test files run one at a time on a 2-core box.
  maxWorkers: 1,
  json: true,
  outputFile: '.dev/jest-results.json',
  verbose: true,
};
