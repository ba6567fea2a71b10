import { Client, Connection } from '@temporalio/client';
import type { DqReport } from '../activities/dq';
import type { SecretStore } from '../activities/secrets/secret-store';
import { payloadDataConverter } from '../codec/payload-codec';
import { parseDuration } from '../config/duration';
import { DEFAULT_TASK_QUEUE } from '../workflows/ids';
import { table } from './format';
import { cliSecretStore } from './secrets';

/** Where the CLI finds Temporal and the workers that own the warehouse. */
export interface TemporalTarget {
  /** host:port of the Temporal frontend. */
  address: string;
  /** Task queue of the Freshline workers. */
  taskQueue: string;
  /** Where the payload keys come from (default: the worker's store, see cliSecretStore). */
  secrets?: SecretStore;
}

/** Defaults: TEMPORAL_ADDRESS (else localhost:7233) and FRESHLINE_TASK_QUEUE (else freshline). */
export function temporalTarget(opts: Partial<TemporalTarget>): TemporalTarget {
  return {
    address: opts.address ?? process.env.TEMPORAL_ADDRESS ?? 'localhost:7233',
    taskQueue: opts.taskQueue ?? process.env.FRESHLINE_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    secrets: opts.secrets,
  };
}

/** Runs `fn` with a Temporal client that encrypts and decrypts payloads like the workers. */
export async function withClient<T>(target: TemporalTarget, fn: (client: Client) => Promise<T>): Promise<T> {
  // Payloads are encrypted: the same keys as the workers' (FRESHLINE_PAYLOAD_KEYS), checked before connecting.
  const dataConverter = await payloadDataConverter(target.secrets ?? cliSecretStore());
  const connection = await Connection.connect({ address: target.address });
  try {
    return await fn(new Client({ connection, dataConverter }));
  } finally {
    await connection.close();
  }
}

/**
 * `freshline dq report`: recent check results, dataset health and quarantine counts, read by the
 * workers (they own the warehouse). Returns the exit code: 2 when a dataset has an open critical
 * failure (usable from cron or CI), else 0.
 */
export async function dqReportCommand(
  opts: Partial<TemporalTarget> & { dataset?: string; since: string },
  out: (s: string) => void = (s) => void process.stdout.write(`${s}\n`),
): Promise<number> {
  const target = temporalTarget(opts);
  const since = new Date(Date.now() - parseDuration(opts.since)).toISOString();
  const report = await withClient(target, (client) =>
    client.workflow.execute<(input: unknown) => Promise<DqReport>>('dqReport', {
      taskQueue: target.taskQueue,
      workflowId: `dq-report/${new Date().toISOString()}`,
      args: [{ dataset: opts.dataset, since }],
    }),
  );
  out('Dataset health (audit.dataset_health):');
  out(
    table(report.health, [
      'dataset',
      'last_run_status',
      'last_good_publish_at',
      'minutes_behind',
      'sla_minutes',
      'is_fresh',
      'open_critical_failures',
      'failing_checks',
      'quarantined_rows',
    ]),
  );
  out(`\nCheck results since ${since} (newest first, failures first):`);
  const failures = report.results.filter((r) => r.status === 'fail');
  out(
    table([...failures, ...report.results.filter((r) => r.status !== 'fail')].slice(0, 50), [
      'checked_at',
      'dataset',
      'check_name',
      'severity',
      'status',
      'failing_rows',
      'quarantined_rows',
      'detail',
    ]),
  );
  out('\nQuarantine (rows not released):');
  out(table(report.quarantine));
  const open = report.health.filter((h) => Number(h.open_critical_failures) > 0);
  if (open.length)
    out(
      `\nCRITICAL: ${open.map((h) => `${h.dataset} (${h.failing_checks})`).join(', ')} — certified tables are held at their last good version.`,
    );
  return open.length ? 2 : 0;
}

/** `freshline dq release`: releases one check's quarantined rows (who and why are stored); the next run publishes them. */
export async function dqReleaseCommand(
  opts: Partial<TemporalTarget> & {
    dataset: string;
    model: string;
    check: string;
    run?: string;
    by: string;
    reason: string;
  },
  out: (s: string) => void = (s) => void process.stdout.write(`${s}\n`),
): Promise<number> {
  const target = temporalTarget(opts);
  const { released } = await withClient(target, (client) =>
    client.workflow.execute<(input: unknown) => Promise<{ released: number }>>('releaseQuarantine', {
      taskQueue: target.taskQueue,
      workflowId: `dq-release/${opts.dataset}/${opts.model}/${opts.check}/${new Date().toISOString()}`,
      args: [
        {
          dataset: opts.dataset,
          model: opts.model,
          check: opts.check,
          runId: opts.run,
          by: opts.by,
          reason: opts.reason,
        },
      ],
    }),
  );
  out(
    `released ${released} row(s) of quarantine.${opts.model} (${opts.check}); the next run of ${opts.dataset} publishes them`,
  );
  return 0;
}
