import { WorkflowFailedError } from '@temporalio/client';
import { progressQuery, type BackfillProgress } from '../workflows/backfill-messages';
import type { BackfillInput } from '../workflows/backfill';
import { temporalTarget, withClient, type TemporalTarget } from './dq';

/** A one-line progress bar: `[#####.....] 12/40 done, 2 running (1 blocked), 0 failed, ETA 3m`. */
export function progressLine(p: BackfillProgress, width = 30): string {
  const finished = p.done + p.failed + p.skipped;
  const filled = p.total ? Math.round((finished / p.total) * width) : 0;
  const eta =
    p.etaSeconds === null ? '?' : p.etaSeconds >= 120 ? `${Math.round(p.etaSeconds / 60)}m` : `${p.etaSeconds}s`;
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${finished}/${p.total} (${p.done} done, ${p.skipped} skipped, ${p.joined} joined), ` +
    `${p.running} running${p.blocked ? ` (${p.blocked} blocked)` : ''}, ${p.failed} failed, ETA ${eta}; publish: ${p.publish}`
  );
}

/**
 * `freshline backfill`: starts the backfill workflow (id `<dataset>/backfill/<from>--<to>`, so starting it
 * twice attaches to the running one), shows live progress from its `progress` query, and returns the exit
 * code: 0 when every partition loaded and the publish succeeded, 1 otherwise.
 */
export async function backfillCommand(
  opts: Partial<TemporalTarget> & Omit<BackfillInput, 'historyLimit'>,
  out: (s: string, sameLine?: boolean) => void = (s, same) =>
    void process.stdout.write(same && process.stdout.isTTY ? `\r${s}` : `${s}\n`),
): Promise<number> {
  const target = temporalTarget(opts);
  const input: Omit<BackfillInput, 'historyLimit'> = {
    dataset: opts.dataset,
    from: opts.from,
    to: opts.to,
    partition: opts.partition,
    maxConcurrent: opts.maxConcurrent,
    mode: opts.mode,
    rerunCompleted: opts.rerunCompleted,
  };
  return withClient(target, async (client) => {
    const workflowId = `${input.dataset}/backfill/${input.from}--${input.to}`;
    const handle = await client.workflow
      .start('backfill', { taskQueue: target.taskQueue, workflowId, args: [input] })
      .catch(async (err: Error) => {
        if (err.name !== 'WorkflowExecutionAlreadyStartedError') throw err;
        out(`${workflowId} is already running: following it`);
        return client.workflow.getHandle(workflowId);
      });
    out(`backfill ${workflowId} on ${target.address} (task queue ${target.taskQueue})`);
    let last = '';
    const poll = setInterval(() => {
      handle.query(progressQuery).then(
        (p) => {
          const line = progressLine(p);
          if (line !== last) out((last = line), true);
        },
        () => undefined,
      );
    }, 1000);
    try {
      const result = (await handle.result()) as BackfillProgress;
      out(progressLine(result));
      const ok = result.failed === 0 && (result.publish === 'succeeded' || result.publish.startsWith('published'));
      out(ok ? 'backfill complete' : `backfill finished with problems: publish ${result.publish}`);
      return ok ? 0 : 1;
    } catch (err) {
      const cause = err instanceof WorkflowFailedError ? (err.cause as Error | undefined)?.message : undefined;
      out(`backfill failed: ${cause ?? (err as Error).message}`);
      return 1;
    } finally {
      clearInterval(poll);
    }
  });
}
