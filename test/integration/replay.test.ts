/**
 * Determinism: saved histories of every workflow type (test/replay/histories, recorded by
 * test/replay/record.ts) replay against the current workflow bundle. A change to a workflow that would
 * make runs already in flight take a different path fails here; guard it with patched() and re-record.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { installRuntime } from '../../workers/runtime';
import { testEnv } from '../support/env';
import * as workflowModule from '../../workflows';

const DIR = resolve(__dirname, '../replay/histories');
installRuntime(); // SDK logs at WARN through pino, not every replay worker state change

/** Reads a file written by record.ts (History.toObject: enums by name, 64-bit numbers and bytes as strings). */
function loadHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('there is a saved history for every workflow type the worker registers, and for the paths that matter', () => {
  const types = new Set(files.map((f) => f.split('--')[0]));
  // Every function workflows/index.ts exports is a workflow type the worker registers.
  const registered = Object.entries(workflowModule as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k);
  expect(registered.filter((t) => !types.has(t))).toEqual([]);
  expect(files).toEqual(
    expect.arrayContaining([
      'pipelineRun--succeeded.json',
      'pipelineRun--blocked-retry-gate.json',
      'pipelineRun--blocked-skip-gate.json',
      'pipelineRun--blocked-gate-timeout.json',
      'pipelineRun--backfill-partition.json',
      'pipelineRun--backfill-publish.json',
    ]),
  );
  for (const f of files) {
    const started = loadHistory(f).events[0]?.workflowExecutionStartedEventAttributes;
    expect(`${f}: ${started?.workflowType?.name}`).toBe(`${f}: ${f.split('--')[0]}`);
  }
});

test('every saved history replays against the current workflow code without nondeterminism', async () => {
  const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: loadHistory(f) }));
  const results: string[] = [];
  const failures: string[] = [];
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: testEnv('bundlePath') } }, histories)) {
    results.push(r.workflowId);
    if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
  }
  expect(failures).toEqual([]);
  expect(results.sort()).toEqual(histories.map((h) => h.workflowId).sort());
  console.log(
    `replay: ${results.length} histories replayed against the current bundle, no nondeterminism: ${results.join(', ')}`,
  );
});
