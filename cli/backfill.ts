import { WorkflowFailedError } from '@temporalio/client';
import { SingleBar } from 'cli-progress';
import { progressQuery, type BackfillProgress } from '../workflows/backfill-messages';
import type { BackfillInput } from '../workflows/backfill';
import { backfillWorkflowId } from '../workflows/ids';
import { temporalTarget, withClient, type TemporalTarget } from './dq';

/** Columns assumed when the terminal does not say (`process.stdout.columns` unset). */
export const DEFAULT_COLUMNS = 80;
const MIN_BAR = 10;
const MAX_BAR = 40;

function counts(p: BackfillProgress) {
  const finished = p.done + p.failed + p.skipped;
  const eta =
    p.etaSeconds === null ? '?' : p.etaSeconds >= 120 ? `${Math.round(p.etaSeconds / 60)}m` : `${p.etaSeconds}s`;
  const blocked = p.blocked ? ` (${p.blocked} blocked)` : '';
  return { finished, eta, blocked };
}

/**
 * The progress as one plain line, every count in it (no bar): what a log or a non-terminal stdout gets.
 * `12/40 (10 done, 2 skipped, 0 joined), 2 running (1 blocked), 0 failed, ETA 3m; publish: pending`.
 */
export function progressText(p: BackfillProgress): string {
  const { finished, eta, blocked } = counts(p);
  return (
    `${finished}/${p.total} (${p.done} done, ${p.skipped} skipped, ${p.joined} joined), ` +
    `${p.running} running${blocked}, ${p.failed} failed, ETA ${eta}; publish: ${p.publish}`
  );
}

/**
 * The progress bar line for a terminal `columns` wide: never longer than `columns - 1` (a line filling the
 * last column makes some terminals wrap before the next `\r`). The bar takes what the text leaves (10–40
 * cells); on narrow terminals the text drops detail first (skipped/joined, then everything but count and ETA).
 */
export function progressLine(p: BackfillProgress, columns: number = DEFAULT_COLUMNS): string {
  const max = Math.max(1, Math.floor(columns) - 1);
  const { finished, eta, blocked } = counts(p);
  const texts = [
    progressText(p),
    `${finished}/${p.total}, ${p.running} running${blocked}, ${p.failed} failed, ETA ${eta}; publish: ${p.publish}`,
    `${finished}/${p.total}, ${p.running} running, ${p.failed} failed, ETA ${eta}`,
    `${finished}/${p.total} ETA ${eta}`,
  ];
  const bar = (width: number) => {
    const filled = p.total ? Math.round((finished / p.total) * width) : 0;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  for (const text of texts) {
    const room = max - text.length - 3; // "[", "]" and a space
    if (room >= MIN_BAR) return `${bar(Math.min(MAX_BAR, room))} ${text}`;
  }
  return texts.at(-1)!.slice(0, max);
}

/** Where the command's output goes: lines, and progress updates (a bar on a terminal, periodic lines elsewhere). */
export interface BackfillOutput {
  line(s: string): void;
  progress(p: BackfillProgress): void;
  /** Ends the progress display (a terminal's bar line ends with a newline). */
  end(): void;
}

/**
 * stdout: on a TTY a cli-progress bar redrawn in place and sized to `process.stdout.columns` (read at every
 * redraw, so a resize is followed; 80 when unknown); elsewhere a plain line when the progress changed, at most
 * every `plainEveryMs`.
 */
export function stdoutOutput(stream: NodeJS.WriteStream = process.stdout, plainEveryMs = 10_000): BackfillOutput {
  let bar: SingleBar | null = null;
  let lastPlain = '';
  let lastPlainAt = 0;
  let latest: BackfillProgress | null = null;
  const write = (s: string) => void stream.write(`${s}\n`);
  return {
    line(s) {
      if (bar) {
        bar.stop(); // ends the bar's line with a newline; a later progress starts a new bar below
        bar = null;
      }
      write(s);
    },
    progress(p) {
      latest = p;
      if (!stream.isTTY) {
        const text = progressText(p);
        if (text !== lastPlain && Date.now() - lastPlainAt >= plainEveryMs) {
          write(text);
          lastPlain = text;
          lastPlainAt = Date.now();
        }
        return;
      }
      const finished = p.done + p.failed + p.skipped;
      if (!bar) {
        bar = new SingleBar({
          stream,
          format: (_opts, params, payload: { p: BackfillProgress }) =>
            progressLine(payload.p, params.maxWidth || DEFAULT_COLUMNS),
          hideCursor: true,
          linewrap: true,
          gracefulExit: true,
        });
        bar.start(p.total, finished, { p });
      } else {
        bar.setTotal(p.total);
        bar.update(finished, { p });
      }
    },
    end() {
      bar?.stop();
      bar = null;
      // The last state always shows, even when it came sooner than plainEveryMs after the previous line.
      if (!stream.isTTY && latest && progressText(latest) !== lastPlain) write((lastPlain = progressText(latest)));
    },
  };
}

/**
 * `freshline backfill`: starts the backfill workflow under its canonical id (`backfillWorkflowId`: the id the
 * README's UI and `temporal workflow start` examples use, so starting the same range again — from here or
 * there — follows the running one instead of starting a second), shows live progress from its `progress`
 * query, and returns the exit code: 0 when every partition loaded and the publish succeeded, 1 otherwise.
 */
export async function backfillCommand(
  opts: Partial<TemporalTarget> & Omit<BackfillInput, 'historyLimit'>,
  output: BackfillOutput | ((s: string) => void) = stdoutOutput(),
): Promise<number> {
  const o: BackfillOutput =
    typeof output === 'function'
      ? { line: output, progress: (p) => output(progressText(p)), end: () => undefined }
      : output;
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
    const workflowId = backfillWorkflowId(input.dataset, input.from, input.to, input.partition ?? 'day');
    const handle = await client.workflow
      .start('backfill', { taskQueue: target.taskQueue, workflowId, args: [input] })
      .catch(async (err: Error) => {
        if (err.name !== 'WorkflowExecutionAlreadyStartedError') throw err;
        o.line(`${workflowId} is already running: following it`);
        return client.workflow.getHandle(workflowId);
      });
    o.line(`backfill ${workflowId} on ${target.address} (task queue ${target.taskQueue})`);
    let last = '';
    const poll = setInterval(() => {
      handle.query(progressQuery).then(
        (p) => {
          const text = progressText(p);
          if (text !== last) o.progress(p);
          last = text;
        },
        () => undefined,
      );
    }, 1000);
    try {
      const result = (await handle.result()) as BackfillProgress;
      clearInterval(poll);
      o.progress(result);
      o.end();
      const ok = result.failed === 0 && (result.publish === 'succeeded' || result.publish.startsWith('published'));
      o.line(ok ? 'backfill complete' : `backfill finished with problems: publish ${result.publish}`);
      return ok ? 0 : 1;
    } catch (err) {
      o.end();
      const cause = err instanceof WorkflowFailedError ? (err.cause as Error | undefined)?.message : undefined;
      o.line(`backfill failed: ${cause ?? (err as Error).message}`);
      return 1;
    } finally {
      clearInterval(poll);
    }
  });
}
