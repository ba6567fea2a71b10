/**
 * Records the workflow histories that test/integration/replay.test.ts replays against the current workflow
 * code (test/replay/histories/<workflowType>--<scenario>.json). Run it after an intentional change of a
 * workflow's command sequence, once the change is guarded with patched() for runs already in flight:
 *
 *   npx tsx test/replay/record.ts                 # every scenario
 *   npx tsx test/replay/record.ts scheduledWindow  # only scenarios whose name contains one of the words
 *
 * It starts the same stack as the test suite (jest global setup: Temporal dev server, PostgreSQL, the
 * workflow bundle), runs each scenario with the test harness, and saves `handle.fetchHistory()` with every
 * payload decoded (the harness encrypts payloads with a throwaway key; saved histories hold plain JSON
 * payloads, base64 as in any history, so replay needs no key).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { temporal } from '@temporalio/proto';
import type { Payload } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { dqReport, releaseQuarantine } from '../../workflows/data-quality';
import { backfillWorkflowId, partitionWorkflowId } from '../../workflows/ids';
import { retryGateSignal, skipGateSignal, statusQuery } from '../../workflows/messages';
import globalSetup from '../support/global-setup';
import globalTeardown from '../support/global-teardown';
import { createHarness, type Harness } from '../support/harness';
import { historyPayloads } from '../support/history';

const OUT = resolve(__dirname, 'histories');

/** Saves one run's history with its payloads decoded, as `<workflowType>--<scenario>.json`. */
async function save(h: Harness, name: string, workflowId: string, runId?: string): Promise<void> {
  const history = await h.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const codecs = h.client.options.loadedDataConverter.payloadCodecs;
  for (const payload of historyPayloads(history)) {
    let decoded: Payload = payload;
    for (const codec of [...codecs].reverse()) [decoded] = await codec.decode([decoded]);
    Object.assign(payload, { metadata: decoded.metadata, data: decoded.data });
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${name}.json`), `${JSON.stringify(historyToObject(history), null, 1)}\n`);
  process.stdout.write(`recorded ${name} (${history.events?.length ?? 0} events) from ${workflowId}\n`);
}

/**
 * The history as a plain object (enums by name, 64-bit numbers and bytes as strings) that
 * `temporal.api.history.v1.History.fromObject` reads back; see loadHistory in the replay test.
 * (Not historyToJSON: with the protobufjs copies this install has, it throws "type must be a Type".)
 */
export function historyToObject(history: temporal.api.history.v1.IHistory): Record<string, unknown> {
  return temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), {
    enums: String,
    longs: String,
    bytes: String,
  });
}

async function waitForState(handle: WorkflowHandle, state: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await handle.query(statusQuery)).state === state) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${handle.workflowId} never reached ${state}`);
}

/** Scenarios in order (later ones rely on the data earlier ones left); each saves one or more histories. */
const scenarios: {
  name: string;
  run: (h: Harness, at: (minutesBefore: number) => { start: string; end: string }) => Promise<void>;
}[] = [
  {
    name: 'pipelineRun--succeeded',
    run: async (h, at) => {
      const handle = await h.start({ window: at(0) });
      await handle.result();
      await save(h, 'pipelineRun--succeeded', handle.workflowId, handle.firstExecutionRunId);
    },
  },
  {
    name: 'pipelineRun--unknown-dataset',
    run: async (h, at) => {
      const handle = await h.start({ dataset: 'no_such_dataset', window: at(1) });
      await handle.result().then(
        () => Promise.reject(new Error('expected a failure')),
        () => undefined,
      );
      await save(h, 'pipelineRun--unknown-dataset', handle.workflowId, handle.firstExecutionRunId);
    },
  },
  {
    // A critical check fails (a second order with an existing order number): the run blocks at the gate.
    name: 'pipelineRun--blocked',
    run: async (h, at) => {
      const { rows } = await h.pool.query(`
        WITH src AS (SELECT * FROM shop.orders WHERE status = 'delivered' ORDER BY order_id LIMIT 1),
        ins AS (INSERT INTO shop.orders (order_number, customer_id, store_id, channel, status, ordered_at, order_date, subtotal, discount, tax, shipping, total)
                SELECT order_number, customer_id, store_id, channel, 'paid', ordered_at, order_date, subtotal, discount, tax, shipping, total FROM src
                RETURNING order_id, total, ordered_at)
        INSERT INTO shop.payments (order_id, method, amount, status, paid_at) SELECT order_id, 'paypal', total, 'captured', ordered_at FROM ins RETURNING order_id`);
      const duplicate = Number(rows[0].order_id);

      const timeout = await h.start({ window: at(2), gateTimeout: '2s' });
      await timeout.result().then(
        () => Promise.reject(new Error('expected a gate timeout')),
        () => undefined,
      );
      await save(h, 'pipelineRun--blocked-gate-timeout', timeout.workflowId, timeout.firstExecutionRunId);

      const skip = await h.start({ window: at(3) });
      await waitForState(skip, 'blocked');
      await skip.signal(skipGateSignal, { by: 'recorder', reason: 'replay history: skip path' });
      await skip.result();
      await save(h, 'pipelineRun--blocked-skip-gate', skip.workflowId, skip.firstExecutionRunId);

      const retry = await h.start({ window: at(4) });
      await waitForState(retry, 'blocked');
      await retry.signal(retryGateSignal, { by: '', reason: 'an invalid decision, ignored' });
      await h.pool.query(`UPDATE shop.orders SET order_number = order_number || '-R' WHERE order_id = $1`, [duplicate]);
      await retry.signal(retryGateSignal, { by: 'recorder', reason: 'renumbered the replayed order', from: 'extract' });
      await retry.result();
      await save(h, 'pipelineRun--blocked-retry-gate', retry.workflowId, retry.firstExecutionRunId);
    },
  },
  {
    // Started by a Schedule (it reads TemporalScheduledStartTime), triggered now; its child is a pipelineRun.
    name: 'scheduledWindow--fired',
    run: async (h) => {
      const scheduleId = `record-replay-${process.pid}`;
      const schedule = await h.client.schedule.create({
        scheduleId,
        spec: { intervals: [{ every: '15m' }] },
        action: {
          type: 'startWorkflow',
          workflowType: 'scheduledWindow',
          workflowId: `record/scheduled`,
          taskQueue: h.taskQueue,
          args: [{ dataset: 'sales_core', cadence: '15m' }],
        },
        state: { paused: true },
      });
      try {
        await schedule.trigger();
        let workflowId: string | undefined;
        for (let i = 0; i < 200 && !workflowId; i++) {
          workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
          if (!workflowId) await new Promise((r) => setTimeout(r, 100));
        }
        if (!workflowId) throw new Error('the schedule did not start scheduledWindow');
        await h.client.workflow.getHandle(workflowId).result();
        await save(h, 'scheduledWindow--fired', workflowId);
      } finally {
        await schedule.delete();
      }
    },
  },
  {
    name: 'dqReport--since',
    run: async (h) => {
      const handle = await h.client.workflow.start(dqReport, {
        taskQueue: h.taskQueue,
        workflowId: `record/dq-report/${Date.now()}`,
        args: [{ dataset: 'sales_core', since: new Date(Date.now() - 3_600_000).toISOString() }],
      });
      await handle.result();
      await save(h, 'dqReport--since', handle.workflowId);
    },
  },
  {
    // An order total above the range check's limit: the row is quarantined (error severity), the rest published.
    name: 'pipelineRun--quarantined',
    run: async (h, at) => {
      await h.pool.query(
        `UPDATE shop.orders SET total = 250000 WHERE order_id = (SELECT min(order_id) FROM shop.orders WHERE status = 'delivered')`,
      );
      const handle = await h.start({ window: at(5) });
      const result = await handle.result();
      if (result.status !== 'published_with_errors')
        throw new Error(`expected published_with_errors, got ${result.status}`);
      await save(h, 'pipelineRun--quarantined', handle.workflowId, handle.firstExecutionRunId);
    },
  },
  {
    name: 'releaseQuarantine--check',
    run: async (h) => {
      const handle = await h.client.workflow.start(releaseQuarantine, {
        taskQueue: h.taskQueue,
        workflowId: `record/release/${Date.now()}`,
        args: [
          {
            dataset: 'sales_core',
            model: 'fct_orders',
            check: 'order_total_in_range',
            by: 'recorder',
            reason: 'replay history',
          },
        ],
      });
      await handle.result();
      await save(h, 'releaseQuarantine--check', handle.workflowId);
    },
  },
  {
    // Three day partitions, two at a time: partition children (extract + load), then one publish child.
    name: 'backfill--days',
    run: async (h) => {
      const day = 86_400_000;
      const to = Math.floor(Date.parse(h.window.start) / day) * day + day;
      const from = new Date(to - 3 * day).toISOString();
      const workflowId = `record/backfill/${Date.now()}`;
      const handle = await h.client.workflow.start('backfill', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [
          {
            dataset: 'sales_core',
            from,
            to: new Date(to).toISOString(),
            partition: 'day',
            maxConcurrent: 2,
            mode: 'reload',
            rerunCompleted: true,
          },
        ],
      });
      await handle.result();
      await save(h, 'backfill--days', workflowId);
      await save(h, 'pipelineRun--backfill-partition', partitionWorkflowId('sales_core', from));
      await save(
        h,
        'pipelineRun--backfill-publish',
        `${backfillWorkflowId('sales_core', from, new Date(to).toISOString(), 'day')}/publish`,
      );
    },
  },
  {
    // historyLimit at its minimum: the backfill continues as new between partitions (the first run is saved).
    name: 'backfill--continued-as-new',
    run: async (h) => {
      const hour = 3_600_000;
      const to = Math.floor(Date.parse(h.window.start) / hour) * hour;
      const workflowId = `record/backfill-can/${Date.now()}`;
      const handle = await h.client.workflow.start('backfill', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [
          {
            dataset: 'sales_core',
            from: new Date(to - 8 * hour).toISOString(),
            to: new Date(to).toISOString(),
            partition: 'hour',
            maxConcurrent: 2,
            mode: 'incremental',
            rerunCompleted: true,
            historyLimit: 50,
          },
        ],
      });
      await handle.result();
      await save(h, 'backfill--continued-as-new', workflowId, handle.firstExecutionRunId);
    },
  },
  {
    // Started by hand (no schedule): the firing time is the run's start; its child is a backfill.
    name: 'reconcileRecent--days',
    run: async (h) => {
      const workflowId = `record/reconcile/${Date.now()}`;
      const handle = await h.client.workflow.start('reconcileRecent', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [{ dataset: 'sales_core', days: 2 }],
      });
      await handle.result();
      await save(h, 'reconcileRecent--days', workflowId);
    },
  },
  {
    name: 'freshnessMonitor--check',
    run: async (h) => {
      const workflowId = `record/freshness/${Date.now()}`;
      const handle = await h.client.workflow.start('freshnessMonitor', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [],
      });
      await handle.result();
      await save(h, 'freshnessMonitor--check', workflowId);
    },
  },
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const chosen = scenarios.filter((s) => !only.length || only.some((w) => s.name.includes(w)));
  if (!chosen.length)
    throw new Error(`no scenario matches ${only.join(' ')} (have: ${scenarios.map((s) => s.name).join(', ')})`);
  await globalSetup();
  let h: Harness | undefined;
  try {
    h = await createHarness('record', { customers: 60, orders: 200 });
    const at = (minutesBefore: number) => ({
      start: new Date(Date.parse(h!.window.start) - minutesBefore * 60_000).toISOString(),
      end: h!.window.end,
    });
    // Scenarios after the first need the data (and certified tables) the earlier ones leave.
    const needed = scenarios.slice(0, Math.max(...chosen.map((c) => scenarios.indexOf(c))) + 1);
    for (const s of needed) {
      if (chosen.includes(s)) await s.run(h, at);
      else if (s.name.startsWith('pipelineRun--succeeded')) await h.run({ window: at(0) });
    }
  } finally {
    await h?.close();
    await globalTeardown();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
