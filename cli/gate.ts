import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { retryGateUpdate, retryRefreshUpdate, skipGateUpdate } from '../workflows/messages';
import { temporalTarget, withClient, type TemporalTarget } from './dq';

type Out = (s: string) => void;
const stdout: Out = (s) => void process.stdout.write(`${s}\n`);
const stderr: Out = (s) => void process.stderr.write(`${s}\n`);

/** Who and why, plus where to find Temporal (options shared by the gate and refresh commands). */
export type DecisionOptions = Partial<Pick<TemporalTarget, 'address' | 'secrets'>> & { by: string; reason: string };

/**
 * `freshline gate skip|retry <workflowId>`: sends the decision as a Temporal update, so the run's validator
 * answers at once. Returns the exit code: 0 when accepted, 1 when rejected (the validator's message on stderr).
 */
export async function gateDecisionCommand(
  kind: 'skip' | 'retry',
  workflowId: string,
  opts: DecisionOptions & { from?: 'gate' | 'transform' | 'extract' },
  out: Out = stdout,
  err: Out = stderr,
): Promise<number> {
  const update = kind === 'skip' ? skipGateUpdate : retryGateUpdate;
  const payload = { by: opts.by, reason: opts.reason, ...(kind === 'retry' && opts.from ? { from: opts.from } : {}) };
  return sendUpdate(workflowId, update.name, opts, err, async (handle) => {
    const { decision } = await handle.executeUpdate(update, { args: [payload] });
    out(
      `${update.name} accepted by ${workflowId}: ${decision.kind}${decision.from ? ` from ${decision.from}` : ''} by ${decision.by} at ${decision.at}`,
    );
  });
}

/** `freshline refresh retry <workflowId>`: asks a run in refresh_failed to run the BI refresh again (exit codes as above). */
export async function refreshRetryCommand(
  workflowId: string,
  opts: DecisionOptions,
  out: Out = stdout,
  err: Out = stderr,
): Promise<number> {
  return sendUpdate(workflowId, retryRefreshUpdate.name, opts, err, async (handle) => {
    const { decision } = await handle.executeUpdate(retryRefreshUpdate, {
      args: [{ by: opts.by, reason: opts.reason }],
    });
    out(`retryRefresh accepted by ${workflowId}: by ${decision.by} at ${decision.at}`);
  });
}

async function sendUpdate(
  workflowId: string,
  name: string,
  opts: DecisionOptions,
  err: Out,
  send: (handle: WorkflowHandle) => Promise<void>,
): Promise<number> {
  try {
    await withClient(temporalTarget(opts), (client) => send(client.workflow.getHandle(workflowId)));
    return 0;
  } catch (e) {
    // The run's validator said no: its message (the field, or the run's state) is the answer, not a crash.
    if (!(e instanceof WorkflowUpdateFailedError)) throw e;
    err(`${name} rejected by ${workflowId}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
    return 1;
  }
}
