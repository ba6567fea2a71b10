import { Writable } from 'node:stream';
import { createLogger } from '../../workers/logger';
import { installRuntime } from '../../workers/runtime';
import { createHarness, type Harness } from '../support/harness';

// The worker's log wiring as production uses it (installRuntime → the SDK's DefaultLogger → pino with
// Freshline's serializers and redaction), written to memory instead of stderr so the test can read it.
// The SDK logs "Activity failed" with the Error under `error`, which pino printed as {} before.

const lines: Record<string, unknown>[] = [];
const memory = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as never);
    done();
  },
});
// Before the harness: the runtime is installed once per process, and the harness's own call is then a no-op.
installRuntime('WARN', createLogger(memory));

const SECRET_URL = 'postgresql://app:log-test-pw-5521@db.internal/shop';
let h: Harness;
beforeAll(async () => {
  h = await createHarness('worker_logs', { customers: 20, orders: 40 });
}, 120_000);
afterAll(() => h?.close());

test('a failing activity logs a line with its error message, type and stack; credential fields redacted', async () => {
  await h.stopWorker();
  await h.startWorker((step) => {
    if (step !== 'extract') return;
    throw Object.assign(new Error('injected: the source refused the extract (worker log test)'), {
      url: SECRET_URL,
      code: 'FRESHLINE_TEST',
    });
  });
  const handle = await h.start();
  try {
    let failed: Record<string, unknown> | undefined;
    // Wait for the line (the first failed attempt logs it), not for a time.
    while (!(failed = lines.find((l) => l.msg === 'Activity failed' && l.activityType === 'extract')))
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(failed).toMatchObject({
      level: 40,
      component: 'temporal',
      error: {
        type: 'Error',
        message: 'injected: the source refused the extract (worker log test)',
        stack: expect.stringContaining('Error: injected: the source refused the extract'),
        code: 'FRESHLINE_TEST',
        url: '[redacted]',
      },
    });
    expect(JSON.stringify(lines)).not.toContain('log-test-pw-5521');
  } finally {
    await handle.terminate('worker log test done');
  }
});
