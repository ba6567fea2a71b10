/** Environment variables global setup hands to test files (jest forks test workers after it runs). */
export const TEST_ENV = {
  temporalAddress: 'FRESHLINE_TEST_TEMPORAL_ADDRESS',
  pgAdminUrl: 'FRESHLINE_TEST_PG_URL',
  bundlePath: 'FRESHLINE_TEST_WORKFLOW_BUNDLE',
  dataRoot: 'FRESHLINE_TEST_DATA_ROOT',
} as const;

/** Reads one of them, failing with a clear message when the suite was started without global setup. */
export function testEnv(name: keyof typeof TEST_ENV): string {
  const value = process.env[TEST_ENV[name]];
  if (!value)
    throw new Error(`${TEST_ENV[name]} is not set: run the suite with 'npm test' (jest global setup starts the stack)`);
  return value;
}
