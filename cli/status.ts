import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { statusQuery, type RunStatus } from '../workflows/messages';
import { temporalTarget, withClient, type TemporalTarget } from './dq';
import { table } from './format';

type Out = (s: string) => void;
const stdout: Out = (s) => void process.stdout.write(`${s}\n`);

/** A status query that has not answered by then shows `?` (a closed run is replayed by a worker to answer). */
const QUERY_TIMEOUT_MS = 10_000;

/** Options of `freshline status`. */
export type StatusOptions = Partial<TemporalTarget> & { limit?: number };

/** One line of `freshline status`: visibility's view of a pipelineRun plus its `status` query. */
export interface StatusRow {
  workflow_id: string;
  temporal: string;
  state: string;
  window: string;
  step: string;
  started: string;
}

/** The Temporal visibility query listing pipelineRun workflows, optionally of one dataset (ids start `<dataset>/`). */
export function pipelineRunsQuery(dataset?: string): string {
  if (dataset !== undefined && !/^[a-z_][a-z0-9_]*$/.test(dataset))
    throw new Error(`'${dataset}' is not a dataset name (or a workflow id, which contains '/')`);
  return `WorkflowType = "pipelineRun"${dataset ? ` AND WorkflowId STARTS_WITH "${dataset}/"` : ''}`;
}

async function queryStatus(client: Client, workflowId: string, runId?: string): Promise<RunStatus | Error> {
  // A deadline on the call itself (not a timer racing it): nothing is left retrying when the connection closes.
  return client
    .withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => client.workflow.getHandle(workflowId, runId).query(statusQuery))
    .catch((err: Error) =>
      /deadline/i.test(err.message)
        ? new Error(`no answer within ${QUERY_TIMEOUT_MS / 1000} s (is a worker running?)`)
        : err,
    );
}

/** The recent pipelineRun workflows (newest first), each with its `status` query's state, window and current step. */
export async function listRuns(client: Client, dataset: string | undefined, limit: number): Promise<StatusRow[]> {
  const runs: WorkflowExecutionInfo[] = [];
  for await (const w of client.workflow.list({ query: pipelineRunsQuery(dataset), pageSize: limit })) {
    runs.push(w);
    if (runs.length >= limit) break;
  }
  return Promise.all(
    runs.map(async (w): Promise<StatusRow> => {
      const s = await queryStatus(client, w.workflowId, w.runId);
      const ok = !(s instanceof Error);
      return {
        workflow_id: w.workflowId,
        temporal: w.status.name,
        state: ok ? s.state : '?',
        window: ok ? `${s.window.start} → ${s.window.end}` : '',
        step: ok ? (s.currentStep ?? '') : `(status query: ${s.message})`,
        started: w.startTime.toISOString(),
      };
    }),
  );
}

/**
 * `freshline status [dataset]`: the recent pipelineRun workflows (Temporal visibility, newest first) with their
 * `status` query's state, window and current step. `freshline status <workflowId>` (an id contains '/'): the
 * `status` query of that run, in full. Exit code 0, or 1 when the run does not exist or does not answer.
 */
export async function statusCommand(arg: string | undefined, opts: StatusOptions, out: Out = stdout): Promise<number> {
  const target = temporalTarget(opts);
  return withClient(target, async (client) => {
    if (arg?.includes('/')) {
      const handle = client.workflow.getHandle(arg);
      const described = await handle.describe().catch((err: Error) => err);
      if (described instanceof Error) {
        out(`${arg}: ${described.name === 'WorkflowNotFoundError' ? 'no such workflow' : described.message}`);
        return 1;
      }
      const s = await queryStatus(client, arg);
      if (s instanceof Error) {
        out(`${arg} (${described.type}, ${described.status.name}): status query failed: ${s.message}`);
        return 1;
      }
      out(
        `${arg}: ${s.state}${s.currentStep ? ` at ${s.currentStep}` : ''} (Temporal ${described.status.name}, run ${described.runId}), ` +
          `${s.dataset} window ${s.window.start} → ${s.window.end}`,
      );
      out(JSON.stringify(s, null, 2));
      return 0;
    }
    const rows = await listRuns(client, arg, opts.limit ?? 20);
    out(
      `pipelineRun workflows${arg ? ` of ${arg}` : ''} on ${target.address}, newest first (at most ${opts.limit ?? 20}):`,
    );
    out(
      table(rows as unknown as Record<string, unknown>[], [
        'workflow_id',
        'temporal',
        'state',
        'window',
        'step',
        'started',
      ]),
    );
    if (rows.length) out(`  one run in full: freshline status <workflow_id>`);
    return 0;
  });
}
