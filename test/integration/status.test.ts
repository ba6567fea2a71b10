import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { PAYLOAD_KEYS_SECRET } from '../../codec/keys';
import { pipelineRunsQuery, statusCommand } from '../../cli/status';
import { testEnv } from '../support/env';
import { createHarness, type Harness } from '../support/harness';

// `freshline status` against the real dev server with one pipelineRun.

const ROOT = resolve(__dirname, '../..');
let h: Harness;
let workflowId: string;
beforeAll(async () => {
  h = await createHarness('statuscmd', { customers: 40, orders: 120 });
  const result = await h.run();
  expect(result.status).toBe('succeeded');
  workflowId = result.workflowId;
  // Visibility is updated asynchronously: wait until the list shows the run closed.
  for (let i = 0; i < 100; i++) {
    const seen: string[] = [];
    for await (const w of h.client.workflow.list({
      query: `${pipelineRunsQuery('sales_core')} AND ExecutionStatus = "Completed"`,
    }))
      seen.push(w.workflowId);
    if (seen.includes(workflowId)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
afterAll(() => h?.close());

const target = () => ({ address: testEnv('temporalAddress'), secrets: h.deps.secrets });

test('freshline status [dataset] lists the recent pipelineRun workflows with state, window and current step', async () => {
  for (const arg of [undefined, 'sales_core']) {
    const lines: string[] = [];
    expect(await statusCommand(arg, target(), (l) => lines.push(l))).toBe(0);
    const text = lines.join('\n');
    expect(text).toMatch(/workflow_id\s+temporal\s+state\s+window\s+step\s+started/);
    const row = text.split('\n').find((l) => l.includes(workflowId));
    expect(row).toBeDefined();
    expect(row).toMatch(/COMPLETED\s+succeeded\s+/);
    expect(row).toContain(`${h.window.start} → ${h.window.end}`);
  }
  const other: string[] = [];
  expect(await statusCommand('finance', target(), (l) => other.push(l))).toBe(0);
  expect(other.join('\n')).not.toContain(workflowId);
  await expect(statusCommand('Not A Dataset', target(), () => undefined)).rejects.toThrow(/not a dataset name/);
});

test("freshline status <workflowId> prints that run's status query; an unknown id exits 1", async () => {
  const lines: string[] = [];
  expect(await statusCommand(workflowId, target(), (l) => lines.push(l))).toBe(0);
  expect(lines[0]).toMatch(
    new RegExp(`^${workflowId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: succeeded \\(Temporal COMPLETED, run `),
  );
  const status = JSON.parse(lines.slice(1).join('\n'));
  expect(status).toMatchObject({ dataset: 'sales_core', state: 'succeeded', window: h.window, currentStep: null });
  expect(Object.keys(status.steps)).toEqual(
    expect.arrayContaining(['extract', 'load', 'transform', 'gate', 'publish']),
  );

  const missing: string[] = [];
  expect(await statusCommand('sales_core/window/1999-01-01T00:00:00.000Z', target(), (l) => missing.push(l))).toBe(1);
  expect(missing.join('\n')).toMatch(/no such workflow/);
});

test('the real command: npm run freshline -- status <workflowId> --address …', async () => {
  // Asynchronously: this process's worker answers the query (a synchronous spawn would block it).
  const child = spawn(
    join(ROOT, 'node_modules/.bin/tsx'),
    [join(ROOT, 'cli/main.ts'), 'status', workflowId, '--address', testEnv('temporalAddress')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        [PAYLOAD_KEYS_SECRET]: await h.deps.secrets.get(PAYLOAD_KEYS_SECRET),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const r = { stdout: '', stderr: '', status: null as number | null };
  child.stdout.on('data', (c: Buffer) => (r.stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (r.stderr += c.toString()));
  r.status = await new Promise<number | null>((done) => child.on('close', done));
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`${workflowId}: succeeded`);
  expect(r.stdout).toContain('"state": "succeeded"');
});
