import { createCompactActivities } from '../../activities/compact';
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { PUBLISHED_STATES } from '../../activities/warehouse/audit/health';
import { recordRun } from '../../activities/warehouse/audit/runs';
import { ensureFreshnessAlertsTable, missedWindows, recordBreach } from '../../activities/warehouse/audit/freshness';
import { FAILURE_CONVERTER_PATH, payloadDataConverter } from '../../codec/payload-codec';
import { ConfigError } from '../../config/load';
import type { PipelineConfig } from '../../config/schema';
import {
  schedulesApplyCommand,
  schedulesPauseCommand,
  schedulesResumeCommand,
  schedulesTriggerCommand,
} from '../../cli/schedules';
import {
  applySchedules,
  catchUpDataset,
  desiredSchedules,
  FRESHNESS_MONITOR_SCHEDULE_ID,
  SCHEDULE_PREFIX,
} from '../../schedules/apply';
import { CONFIG_PAUSE_NOTE } from '../../schedules/diff';
import { freshnessMonitor } from '../../workflows/freshness-monitor';
import { windowWorkflowId } from '../../workflows/ids';
import { startWebhookStandIn, type WebhookStandIn } from '../stand-ins/webhook';
import { testEnv } from '../support/env';
import { createHarness, type Harness } from '../support/harness';

// Schedules as `freshline schedules …` manages them, against the real Temporal server: idempotent apply
// with a diff, pause/resume/trigger, catch-up by nominal time, the reconciliation's window, and the
// freshness monitor's one-alert-per-breach state in the warehouse.

let h: Harness;
let hook: WebhookStandIn;
/** No worker polls this queue: actions the apply tests' schedules start wait there, harmlessly. */
const IDLE_QUEUE = `schedules-idle-${process.pid}`;

beforeAll(async () => {
  hook = await startWebhookStandIn();
  h = await createHarness(
    'schedules',
    { customers: 100, orders: 400 },
    (config) => {
      // sales_core alone: the monitor's expectations are about one dataset's watermark.
      config.datasets = config.datasets.filter((d) => d.name === 'sales_core');
      config.datasets[0].alerts = { webhookSecret: 'FRESHLINE_ALERT_WEBHOOK' };
    },
    { FRESHLINE_ALERT_WEBHOOK: hook.url },
  );
});
afterAll(async () => {
  if (h) {
    for await (const s of h.client.schedule.list()) {
      if (s.scheduleId.startsWith(SCHEDULE_PREFIX) || s.scheduleId.startsWith('test/'))
        await h.client.schedule
          .getHandle(s.scheduleId)
          .delete()
          .catch(() => undefined);
    }
  }
  await h?.close();
  await hook?.close();
});

/** The harness config with its one dataset (sales_core), each dataset adjustable. */
function configWith(
  datasets: { name: string; cadence?: string; catchupWindow?: string; paused?: boolean }[],
  extra: Partial<PipelineConfig> = {},
): PipelineConfig {
  const base = h.deps.config.datasets[0];
  return {
    ...h.deps.config,
    ...extra,
    datasets: datasets.map((d) => ({
      ...base,
      name: d.name,
      cadence: d.cadence ?? base.cadence,
      schedule: { catchupWindow: d.catchupWindow ?? '1h', paused: d.paused ?? false },
    })),
  };
}

/** Runs `freshline schedules apply` as the CLI does and returns what it printed. */
async function apply(config: PipelineConfig, dryRun = false): Promise<string> {
  const lines: string[] = [];
  await schedulesApplyCommand(
    { address: testEnv('temporalAddress'), taskQueue: IDLE_QUEUE, secrets: h.deps.secrets, config, dryRun },
    (s) => lines.push(s),
  );
  return lines.join('\n');
}

const cli = () => ({
  address: testEnv('temporalAddress'),
  taskQueue: IDLE_QUEUE,
  secrets: h.deps.secrets,
  config: configWith([{ name: 'sales_core' }]),
});

async function listed(client: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const s of client.schedule.list()) if (s.scheduleId.startsWith(SCHEDULE_PREFIX)) ids.push(s.scheduleId);
  return ids.sort();
}

/** The listing is served from visibility and may lag a create or delete by a moment. */
async function waitListed(expected: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (JSON.stringify(await listed(h.client)) === JSON.stringify([...expected].sort())) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(await listed(h.client)).toEqual([...expected].sort());
}

const describe_ = (id: string): Promise<ScheduleDescription> => h.client.schedule.getHandle(id).describe();

const TWO = [
  'freshline/sales_core',
  'freshline/sales_core/reconcile',
  'freshline/sales_copy',
  'freshline/sales_copy/reconcile',
  FRESHNESS_MONITOR_SCHEDULE_ID,
];
const ONE = ['freshline/sales_core', 'freshline/sales_core/reconcile', FRESHNESS_MONITOR_SCHEDULE_ID];

describe('freshline schedules apply', () => {
  test('apply twice gives the same schedules: the second reports unchanged, a changed cadence updates in place', async () => {
    const first = await apply(configWith([{ name: 'sales_core' }, { name: 'sales_copy' }]));
    for (const id of TWO) expect(first).toContain(`+ created   ${id}\n`);
    expect(first).toContain('spec: cron 0 2 * * * UTC');
    expect(first).toMatch(/created 5, updated 0, deleted 0, unchanged 0$/);
    await waitListed(TWO);
    const window = await describe_('freshline/sales_core');
    expect(window.spec.intervals).toEqual([{ every: 900_000, offset: undefined }]);
    expect(window.action).toMatchObject({
      workflowType: 'scheduledWindow',
      taskQueue: IDLE_QUEUE,
      args: [{ dataset: 'sales_core', cadence: '15m' }],
    });
    expect(window.policies).toMatchObject({ overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 });
    const reconcile = await describe_('freshline/sales_core/reconcile');
    expect(reconcile.action).toMatchObject({
      workflowType: 'reconcileRecent',
      args: [{ dataset: 'sales_core', days: 7 }],
    });
    expect(reconcile.info.nextActionTimes[0].toISOString()).toMatch(/T02:00:00\.000Z$/);
    const monitor = await describe_(FRESHNESS_MONITOR_SCHEDULE_ID);
    expect(monitor.spec.intervals).toEqual([{ every: 300_000, offset: undefined }]);
    expect(monitor.action).toMatchObject({ workflowType: 'freshnessMonitor', args: [] });

    const createdAt = (await describe_('freshline/sales_copy')).info.createdAt.getTime();
    const second = await apply(configWith([{ name: 'sales_core' }, { name: 'sales_copy' }]));
    for (const id of TWO) expect(second).toContain(`= unchanged ${id}\n`);
    expect(second).toMatch(/created 0, updated 0, deleted 0, unchanged 5$/);
    await waitListed(TWO);

    const third = await apply(
      configWith([{ name: 'sales_core' }, { name: 'sales_copy', cadence: '30m', catchupWindow: '2h' }]),
    );
    expect(third).toContain('~ updated   freshline/sales_copy\n      spec: every 15m → every 30m\n');
    expect(third).toContain(
      'args: [{"cadence":"15m","dataset":"sales_copy"}] → [{"cadence":"30m","dataset":"sales_copy"}]',
    );
    expect(third).toContain('catchupWindow: 1h → 2h');
    expect(third).toContain('~ updated   freshline/sales_copy/reconcile\n      catchupWindow: 1h → 2h');
    expect(third).toContain('= unchanged freshline/sales_core\n');
    const copy = await describe_('freshline/sales_copy');
    expect(copy.spec.intervals).toEqual([{ every: 1_800_000, offset: undefined }]);
    expect(copy.policies.catchupWindow).toBe(7_200_000);
    expect(copy.info.createdAt.getTime()).toBe(createdAt);
    expect(copy.info.lastUpdatedAt).toBeDefined();
    await waitListed(TWO);
  });

  test('--dry-run prints the diff (create, update with what changes, delete) and changes nothing', async () => {
    const before = await Promise.all(TWO.map(async (id) => JSON.stringify((await describe_(id)).spec)));
    const config = configWith([{ name: 'sales_core', cadence: '1h' }, { name: 'sales_new' }], {
      reconciliation: { cron: '30 3 * * *', days: 3 },
    });
    const out = await apply(config, true);
    expect(out).toContain('~ update    freshline/sales_core\n      spec: every 15m → every 1h\n');
    expect(out).toContain(
      '~ update    freshline/sales_core/reconcile\n      spec: cron 0 2 * * * UTC → cron 30 3 * * * UTC\n      args: [{"dataset":"sales_core","days":7}] → [{"dataset":"sales_core","days":3}]',
    );
    expect(out).toContain('+ create    freshline/sales_new\n      spec: every 15m\n');
    expect(out).toContain('+ create    freshline/sales_new/reconcile\n');
    expect(out).toContain('- delete    freshline/sales_copy\n      was: scheduledWindow every 30m\n');
    expect(out).toContain('- delete    freshline/sales_copy/reconcile\n');
    expect(out).toContain('= unchanged freshline/monitor/freshness');
    expect(out).toMatch(/dry run, nothing changed: would create 2, update 2, delete 2, unchanged 1$/);
    // Nothing changed on the server.
    expect(await Promise.all(TWO.map(async (id) => JSON.stringify((await describe_(id)).spec)))).toEqual(before);
    await waitListed(TWO);
  });

  test("a removed dataset's schedules are deleted", async () => {
    const out = await apply(configWith([{ name: 'sales_core' }]));
    expect(out).toContain('- deleted   freshline/sales_copy\n');
    expect(out).toContain('- deleted   freshline/sales_copy/reconcile\n');
    expect(out).toMatch(/created 0, updated 0, deleted 2, unchanged 3$/);
    await waitListed(ONE);
    // And applying again deletes nothing more.
    expect(await apply(configWith([{ name: 'sales_core' }]))).toMatch(/created 0, updated 0, deleted 0, unchanged 3$/);
  });

  test('pause (kept by apply), resume, trigger runs now; a pause in config is applied and lifted by apply', async () => {
    const out: string[] = [];
    await schedulesPauseCommand('sales_core', { ...cli(), note: 'incident 42: source replica lagging' }, (s) =>
      out.push(s),
    );
    expect(out[0]).toBe(
      'paused freshline/sales_core, freshline/sales_core/reconcile: incident 42: source replica lagging',
    );
    for (const id of ['freshline/sales_core', 'freshline/sales_core/reconcile']) {
      expect((await describe_(id)).state).toMatchObject({ paused: true, note: 'incident 42: source replica lagging' });
    }
    // A deploy's apply does not undo an operator's pause.
    const applied = await apply(configWith([{ name: 'sales_core' }]));
    expect(applied).toContain(
      '= unchanged freshline/sales_core\n      note: stays paused by an operator (incident 42: source replica lagging): resume with `freshline schedules resume sales_core`',
    );
    expect((await describe_('freshline/sales_core')).state.paused).toBe(true);

    // Trigger works while paused and starts the action now.
    const before = (await describe_('freshline/sales_core')).info.recentActions.length;
    await schedulesTriggerCommand('sales_core', cli(), () => undefined);
    let recent: ScheduleDescription['info']['recentActions'] = [];
    for (let i = 0; i < 50 && recent.length <= before; i++) {
      recent = (await describe_('freshline/sales_core')).info.recentActions;
      if (recent.length <= before) await new Promise((r) => setTimeout(r, 200));
    }
    expect(recent.length).toBe(before + 1);
    const started = recent[recent.length - 1];
    expect(started.action.workflow.workflowId).toMatch(/^sales_core\/scheduled-/);
    expect(Math.abs(started.scheduledAt.getTime() - Date.now())).toBeLessThan(60_000);
    const run = h.client.workflow.getHandle(started.action.workflow.workflowId);
    expect(await run.describe()).toMatchObject({
      type: 'scheduledWindow',
      taskQueue: IDLE_QUEUE,
      status: { name: 'RUNNING' },
    });
    await run.terminate('test: the idle queue has no worker');

    const resumed: string[] = [];
    await schedulesResumeCommand('sales_core', { ...cli(), note: 'replica caught up' }, (s) => resumed.push(s));
    expect(resumed[0]).toBe('resumed freshline/sales_core, freshline/sales_core/reconcile: replica caught up');
    expect((await describe_('freshline/sales_core')).state).toMatchObject({ paused: false, note: 'replica caught up' });

    // schedule.paused in config: apply pauses (with its own note) …
    const paused = await apply(configWith([{ name: 'sales_core', paused: true }]));
    expect(paused).toContain('~ updated   freshline/sales_core\n      paused: no → yes (schedule.paused in config)');
    expect((await describe_('freshline/sales_core/reconcile')).state).toMatchObject({
      paused: true,
      note: CONFIG_PAUSE_NOTE,
    });
    // … and resumes when config stops saying so.
    const unpaused = await apply(configWith([{ name: 'sales_core' }]));
    expect(unpaused).toContain('~ updated   freshline/sales_core\n      paused: yes → no (config no longer pauses it)');
    expect((await describe_('freshline/sales_core')).state.paused).toBe(false);

    await expect(schedulesPauseCommand('no_such', { ...cli(), note: 'x' }, () => undefined)).rejects.toThrow(
      ConfigError,
    );
  });
});

describe('catch-up and reconciliation', () => {
  test('backfilled firings derive each window from its nominal time and run oldest first; missedWindows sees the rest', async () => {
    const ds = configWith([{ name: 'sales_core', paused: true }]).datasets[0];
    // The window schedule on the harness worker's queue, paused so no live firing interferes (backfill still runs).
    await applySchedules(h.client, configWith([{ name: 'sales_core', paused: true }]), {
      taskQueue: h.taskQueue,
      datasets: ['sales_core'],
    });
    await h.deps.warehouse.run("DELETE FROM audit.pipeline_runs WHERE dataset = 'sales_core'");
    const c = 15 * 60_000;
    const n = Math.floor(Date.now() / c) * c;
    const iso = (t: number) => new Date(t).toISOString();
    expect((await missedWindows(h.deps.warehouse, ds, iso(n - 4 * c), iso(n))).map((w) => w.start)).toEqual([
      iso(n - 4 * c),
      iso(n - 3 * c),
      iso(n - 2 * c),
      iso(n - c),
    ]);

    const windows = await catchUpDataset(h.client, ds, iso(n - 3 * c - 60_000), iso(n + 60_000));
    expect(windows).toEqual([0, 1, 2].map((i) => ({ start: iso(n - (3 - i) * c), end: iso(n - (2 - i) * c) })));
    const starts: number[] = [];
    for (const w of windows) {
      // The run this catch-up started is the schedule's child: on the Temporal server all test files share,
      // an older, closed run of the same window id (another file's, under another payload key) may exist too.
      const id = windowWorkflowId('sales_core', w.start);
      let runId: string | undefined;
      for (let i = 0; i < 600 && !runId; i++) {
        const d = await h.client.workflow
          .getHandle(id)
          .describe()
          .catch(() => undefined);
        if (d?.parentExecution?.workflowId?.startsWith('sales_core/scheduled')) runId = d.runId;
        else await new Promise((r) => setTimeout(r, 250));
      }
      const handle = h.client.workflow.getHandle(id, runId);
      const result = await handle.result();
      expect(PUBLISHED_STATES).toContain(result.status);
      starts.push((await handle.describe()).startTime.getTime());
    }
    // Oldest first, one at a time.
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    const runs = await h.sql<{ s: string; e: string }>(
      "SELECT window_start::VARCHAR AS s, window_end::VARCHAR AS e FROM audit.pipeline_runs WHERE dataset = 'sales_core' ORDER BY started_at",
    );
    expect(
      runs.map((r) => [
        new Date(r.s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).toISOString(),
        new Date(r.e.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).toISOString(),
      ]),
    ).toEqual(windows.map((w) => [w.start, w.end]));
    const recent = (await describe_('freshline/sales_core')).info.recentActions.slice(-3);
    expect(recent.map((a) => a.scheduledAt.toISOString())).toEqual(windows.map((w) => w.end));
    // Only the window before the caught-up range is still missed.
    expect(await missedWindows(h.deps.warehouse, ds, iso(n - 4 * c), iso(n))).toEqual([
      { start: iso(n - 4 * c), end: iso(n - 3 * c) },
    ]);
  });

  test('the reconciliation firing backfills [nominal − days, nominal) as child with the canonical backfill id', async () => {
    const queue = `schedules-reconcile-${process.pid}`;
    const connection = await NativeConnection.connect({ address: testEnv('temporalAddress') });
    const worker = await Worker.create({
      connection,
      taskQueue: queue,
      dataConverter: await payloadDataConverter(h.deps.secrets),
      // The real compaction, on this file's warehouse: the reconciliation compacts raw after its reload.
      activities: createCompactActivities(h.deps),
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: require.resolve('../support/reconcile-stub-workflows'),
        failureConverterPath: FAILURE_CONVERTER_PATH,
        logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
      }),
    });
    try {
      await worker.runUntil(async () => {
        const d = desiredSchedules(configWith([{ name: 'sales_core' }], { reconciliation: { days: 7 } }), {
          taskQueue: queue,
        }).find((s) => s.kind === 'reconcile');
        if (!d) throw new Error('no reconciliation schedule');
        const handle = await h.client.schedule.create({
          scheduleId: 'test/reconcile',
          spec: d.spec,
          action: d.action,
          policies: d.policies,
        });
        // The firing of 2026-11-20 02:00 UTC, as if caught up now.
        await handle.backfill([
          {
            start: new Date('2026-11-20T01:00:00Z'),
            end: new Date('2026-11-20T03:00:00Z'),
            overlap: ScheduleOverlapPolicy.ALLOW_ALL,
          },
        ]);
        const child = h.client.workflow.getHandle('sales_core/backfill/2026-11-13--2026-11-21');
        for (let i = 0; i < 200; i++) {
          try {
            await child.describe();
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 250));
          }
        }
        expect(await child.result()).toEqual({
          stub: true,
          input: {
            dataset: 'sales_core',
            from: '2026-11-13T02:00:00.000Z',
            to: '2026-11-20T02:00:00.000Z',
            partition: 'day',
            mode: 'reload',
            maxConcurrent: 2,
            rerunCompleted: true,
          },
        });
        const [action] = (await handle.describe()).info.recentActions;
        const parent = await h.client.workflow.getHandle(action.action.workflow.workflowId).result();
        expect(parent).toMatchObject({
          backfillWorkflowId: 'sales_core/backfill/2026-11-13--2026-11-21',
          status: 'completed',
          compacted: {
            olderThan: '2026-11-06T02:00:00.000Z',
            tables: expect.any(Array),
          },
        });
        await handle.delete();
      });
    } finally {
      await connection.close();
    }
  });
});

describe('freshness monitor', () => {
  const monitor = (i: string) =>
    h.client.workflow.execute(freshnessMonitor, {
      taskQueue: h.taskQueue,
      workflowId: `test/freshness-monitor/${i}/${Date.now()}`,
    });
  const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
  async function publishedRun(id: string, endMinutesAgo: number) {
    await recordRun(h.deps.warehouse, {
      workflowId: `test/${id}`,
      runId: `test-${id}`,
      dataset: 'sales_core',
      window: { start: ago(endMinutesAgo + 15), end: ago(endMinutesAgo) },
      status: 'succeeded',
      steps: {},
      gateDecision: null,
      error: null,
      startedAt: ago(endMinutesAgo),
    });
  }

  test('alerts once on a breach across monitor runs (a failed send is retried by the next run), once on recovery, nothing when fresh', async () => {
    await ensureFreshnessAlertsTable(h.deps.warehouse);
    await h.deps.warehouse.run("DELETE FROM audit.pipeline_runs WHERE dataset = 'sales_core'");
    await h.deps.warehouse.run('DELETE FROM audit.freshness_alerts');
    // A breach left open by a dataset since removed from config: dropped by the next monitor run.
    await recordBreach(h.deps.warehouse, {
      dataset: 'gone_ds',
      breachedSince: ago(60),
      lastAlertedAt: ago(55),
      watermark: ago(80),
      minutesBehind: 80,
      missedWindows: 0,
    });
    const received = () => hook.received.map((r) => r.text);
    const before = received().length;

    // Fresh (5 min behind a 20 min SLA): nothing, however often the monitor runs.
    await publishedRun('fresh', 5);
    for (const i of ['fresh-1', 'fresh-2']) {
      const report = await monitor(i);
      expect(report.datasets).toMatchObject([
        { dataset: 'sales_core', fresh: true, slaMinutes: 20, breachedSince: null },
      ]);
      expect(report.alerts).toEqual([]);
    }
    expect(received().length).toBe(before);

    // Stale (newest published window ended 2 h ago). The webhook fails the first run's attempts.
    await h.deps.warehouse.run("DELETE FROM audit.pipeline_runs WHERE dataset = 'sales_core'");
    await publishedRun('stale', 120);
    hook.failNext(3);
    const first = await monitor('stale-1');
    expect(first.datasets[0]).toMatchObject({ fresh: false, alerted: false });
    expect(first.datasets[0].minutesBehind).toBeGreaterThan(119);
    expect(first.alerts).toEqual([
      expect.objectContaining({ dataset: 'sales_core', kind: 'freshness_breach', sent: false }),
    ]);
    expect(first.alerts[0].note).toMatch(/not delivered, the next monitor run tries again: .*HTTP 500/);
    expect(received().length).toBe(before);
    const second = await monitor('stale-2');
    expect(second.alerts).toEqual([
      {
        dataset: 'sales_core',
        kind: 'freshness_breach',
        sent: true,
        note: 'sent to the webhook in FRESHLINE_ALERT_WEBHOOK',
      },
    ]);
    for (const i of ['stale-3', 'stale-4']) {
      const report = await monitor(i);
      expect(report.datasets[0]).toMatchObject({ fresh: false, alerted: true });
      expect(report.alerts).toEqual([]);
    }
    const breachAlerts = received().slice(before);
    expect(breachAlerts).toHaveLength(1);
    expect(breachAlerts[0]).toMatch(/sales_core: certified data is \d+(\.\d)? min old, over its 20 min freshness SLA/);
    const [state] = await h.sql<{ since: string; alerted: string | null }>(
      "SELECT breached_since::VARCHAR AS since, last_alerted_at::VARCHAR AS alerted FROM audit.freshness_alerts WHERE dataset = 'sales_core'",
    );
    // Stale since the watermark plus the SLA: 2 h − 20 min ago.
    expect(
      Math.abs(Date.parse(state.since.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')) - (Date.now() - 100 * 60_000)),
    ).toBeLessThan(120_000);
    expect(state.alerted).not.toBeNull();
    // The breach alert names the missed windows (the whole last 7 days but the stale run's window).
    expect(JSON.stringify(hook.received[hook.received.length - 1])).toMatch(/Windows without a published run/);
    expect(second.datasets[0].missed.count).toBeGreaterThan(600);

    // A real run publishes: recovery alerts once, then quiet again.
    expect(PUBLISHED_STATES).toContain((await h.run()).status);
    const recovered = await monitor('recovered-1');
    expect(recovered.datasets[0]).toMatchObject({ fresh: true });
    expect(recovered.alerts).toEqual([expect.objectContaining({ kind: 'freshness_recovered', sent: true })]);
    expect((await monitor('recovered-2')).alerts).toEqual([]);
    const all = received().slice(before);
    expect(all).toHaveLength(2);
    expect(all[1]).toMatch(/sales_core: certified data is fresh again/);
    expect(await h.sql('SELECT * FROM audit.freshness_alerts')).toEqual([]);
  });
});
