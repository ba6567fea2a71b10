import { TableauTargetSchema, type TableauTargetConfig } from '../../config/schema';
import { retryRefreshSignal, statusQuery, type RunStatus } from '../../workflows/messages';
import { startTableauStandIn, type StandInItem, type TableauStandIn } from '../stand-ins/tableau';
import { createHarness, failureText, type Harness } from '../support/harness';
import { activityHistory, decodedHistoryText } from '../support/history';

// The refresh step against a Tableau REST stand-in: each mapped item refreshed once after publish, a
// running refresh joined, 429 waited out, an expired session re-signed, a missing item failing fast,
// failed jobs re-run, and a run whose refresh keeps failing waiting for retryRefresh.

let h: Harness;
let tab: TableauStandIn;
let sales: StandInItem;
let orders: StandInItem;
let customers: StandInItem;
let regional: StandInItem;
let shift = 0;
const runs: string[] = [];

/** bi.tableau pointing at the stand-in (defaults filled by the schema, as loading config would). */
function target(over: Partial<Record<keyof TableauTargetConfig, unknown>> = {}): TableauTargetConfig {
  return TableauTargetSchema.parse({
    server: tab.url,
    site: tab.site,
    patNameSecret: 'TABLEAU_PAT_NAME',
    patSecretSecret: 'TABLEAU_PAT_SECRET',
    datasources: ['Sales (certified)', 'Orders', { luid: customers.id }],
    workbooks: ['Regional Sales'],
    pollInterval: '100ms',
    ...over,
  });
}
const setTarget = (t: TableauTargetConfig) => (h.deps.config.datasets[0].bi.tableau = t);

beforeAll(async () => {
  // Small pages, so listing jobs has to follow the pagination.
  tab = await startTableauStandIn({ maxPageSize: 2 });
  sales = tab.addItem('datasource', 'Sales (certified)');
  orders = tab.addItem('datasource', 'Orders');
  customers = tab.addItem('datasource', 'Customers');
  regional = tab.addItem('workbook', 'Regional Sales');
  tab.addItem('workbook', 'Sales (certified)'); // same name, other kind: not confused with the data source
  h = await createHarness(
    'tableau',
    { customers: 80, orders: 300 },
    (config) => {
      config.datasets[0].bi.tableau = target();
    },
    { TABLEAU_PAT_NAME: tab.patName, TABLEAU_PAT_SECRET: tab.patSecret },
  );
});
afterAll(async () => {
  await h?.close();
  await tab?.close();
});
beforeEach(() => setTarget(target()));

/**
 * A fresh window each time (a minute earlier, still covering every row), so each test is its own run. The
 * extra 23 s keeps its workflow ids apart from other test files' runs on the shared Temporal server.
 */
function nextWindow() {
  shift += 1;
  const by = shift * 60_000 + 23_000;
  return {
    start: new Date(Date.parse(h.window.start) - by).toISOString(),
    end: new Date(Date.parse(h.window.end) - by).toISOString(),
  };
}

async function start(input: Parameters<Harness['start']>[0] = {}) {
  const handle = await h.start({ window: nextWindow(), ...input });
  runs.push(handle.workflowId);
  return handle;
}

async function waitForState(
  handle: Awaited<ReturnType<Harness['start']>>,
  state: RunStatus['state'],
): Promise<RunStatus> {
  for (let i = 0; i < 600; i++) {
    const s = await handle.query(statusQuery);
    if (s.state === state) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run never reached ${state}`);
}

const audit = (workflowId: string) =>
  h.sql(
    `SELECT object_type, object_ref, object_name, object_id, job_id, joined, status, finish_code::INTEGER AS finish_code, jobs::INTEGER AS jobs,
                reruns::INTEGER AS reruns, refresh_round::INTEGER AS round, duration_ms::INTEGER AS ms, notes
           FROM audit.bi_refreshes WHERE workflow_id = $1 ORDER BY object_type, object_ref`,
    [workflowId],
  );

/** Requests and jobs from `mark` on. */
const since = (mark: { requests: number; jobs: number }) => ({
  requests: tab.requests.slice(mark.requests),
  jobs: tab.jobs.slice(mark.jobs),
});
const mark = () => ({ requests: tab.requests.length, jobs: tab.jobs.length });

test('after publish, each mapped data source and workbook is refreshed once, two at a time, and recorded in audit.bi_refreshes', async () => {
  const m = mark();
  tab.resetPeak();
  const handle = await start();
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  expect(result.steps.refresh).toMatchObject({ status: 'completed', counts: { items: 4, jobs: 4, joined: 0 } });
  expect(result.steps.refresh.detail).toMatch(/^refreshed: 4 Tableau item\(s\) refreshed/);

  const { requests, jobs } = since(m);
  expect(jobs.map((j) => j.item.name).sort()).toEqual(['Customers', 'Orders', 'Regional Sales', 'Sales (certified)']);
  expect(jobs.every((j) => j.viaApi && j.finishCode === 0)).toBe(true);
  expect(tab.peakRunning()).toBe(2); // bi.tableau.maxConcurrentRefreshes
  expect(requests.filter((r) => r.path.endsWith('/auth/signin'))).toEqual([
    expect.objectContaining({ status: 200, patName: tab.patName }),
  ]);
  expect(requests.filter((r) => r.path.endsWith('/auth/signout'))).toHaveLength(1);
  expect(requests.filter((r) => r.path.endsWith('/refresh')).map((r) => r.status)).toEqual([202, 202, 202, 202]);

  const rows = await audit(handle.workflowId);
  expect(rows).toEqual([
    expect.objectContaining({
      object_type: 'datasource',
      object_ref: 'Orders',
      object_id: orders.id,
      status: 'succeeded',
      finish_code: 0,
      jobs: 1,
      joined: false,
      round: 1,
    }),
    expect.objectContaining({
      object_type: 'datasource',
      object_ref: 'Sales (certified)',
      object_id: sales.id,
      status: 'succeeded',
      finish_code: 0,
      jobs: 1,
    }),
    expect.objectContaining({
      object_type: 'datasource',
      object_ref: `luid:${customers.id}`,
      object_name: 'Customers',
      status: 'succeeded',
      finish_code: 0,
    }),
    expect.objectContaining({
      object_type: 'workbook',
      object_ref: 'Regional Sales',
      object_id: regional.id,
      status: 'succeeded',
      finish_code: 0,
    }),
  ]);
  for (const row of rows) expect(row.job_id).toBe(jobs.find((j) => j.item.id === row.object_id)?.id);
  expect(rows.every((r) => Number(r.ms) > 0)).toBe(true);
});

test('a refresh already queued or running is joined, not duplicated', async () => {
  const m = mark();
  // Someone else's jobs, long enough that none ends before the run asks for its item: every GET of a job advances
  // it here, and looking for a running job GETs each candidate, in an order that depends on timing.
  const running = tab.startJob(sales, { running: true, finishAfterPolls: 20 });
  const queued = tab.startJob(orders, { finishAfterPolls: 20 });
  const wb = tab.startJob(regional, { running: true, finishAfterPolls: 20 });
  const handle = await start();
  expect((await handle.result()).status).toBe('succeeded');

  const { requests, jobs } = since(m);
  expect(jobs.filter((j) => j.viaApi).map((j) => j.item.name)).toEqual(['Customers']); // the only one not already running
  expect(requests.filter((r) => r.code === '409093')).toHaveLength(3);
  expect([running, queued, wb].every((j) => j.finishCode === 0)).toBe(true);
  const rows = await audit(handle.workflowId);
  const row = (ref: string) => rows.find((r) => r.object_ref === ref);
  expect(row('Sales (certified)')).toMatchObject({ job_id: running.id, joined: true, jobs: 1, status: 'succeeded' });
  expect(row('Orders')).toMatchObject({ job_id: queued.id, joined: true, status: 'succeeded' });
  expect(row('Regional Sales')).toMatchObject({ job_id: wb.id, joined: true });
  expect(row('Sales (certified)')?.notes).toMatch(/joined job .* already running/);
  expect((await handle.query(statusQuery)).steps.refresh.counts).toEqual({ items: 4, jobs: 4, joined: 3 });
});

test('429: the refresh waits as Tableau says, then succeeds', async () => {
  setTarget(target({ datasources: ['Sales (certified)'], workbooks: [] }));
  const m = mark();
  tab.rateLimitNext(1, { minutes: 0.05, path: /\/refresh$/ }); // "retry after 0.05 minutes" = 3 s
  const handle = await start();
  expect((await handle.result()).status).toBe('succeeded');
  const posts = since(m).requests.filter((r) => r.path.endsWith('/refresh'));
  expect(posts.map((r) => [r.status, r.code])).toEqual([
    [429, '429000'],
    [202, undefined],
  ]);
  expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(2900);
  const [row] = await audit(handle.workflowId);
  expect(row).toMatchObject({ status: 'succeeded', jobs: 1 });
  expect(row.notes).toMatch(/rate limited \(HTTP 429 429000\) on refresh datasource .*: waited 3s as told/);
});

test('an expired session is signed in again and the refresh carries on', async () => {
  const m = mark();
  tab.expireTokensAfter(6); // mid-refresh, while jobs are being polled
  const handle = await start();
  expect((await handle.result()).status).toBe('succeeded');
  const { requests, jobs } = since(m);
  expect(requests.filter((r) => r.code === '401002').length).toBeGreaterThanOrEqual(1);
  expect(requests.filter((r) => r.path.endsWith('/auth/signin') && r.status === 200)).toHaveLength(2);
  expect(jobs.filter((j) => j.viaApi)).toHaveLength(4); // nothing refreshed twice
  const notes = (await audit(handle.workflowId)).map((r) => r.notes).join('\n');
  expect(notes).toMatch(/session expired \(HTTP 401\) during .*: signed in again/);
});

test('a retried attempt polls the jobs the failed attempt started instead of starting new ones', async () => {
  setTarget(target({ datasources: ['Sales (certified)', 'Orders'], workbooks: [] }));
  const m = mark();
  // One job poll is refused twice (the session ended elsewhere, then again after signing in): that item's
  // attempt fails retryably; the other item finishes; attempt 2 re-attaches to the job from its heartbeat.
  tab.failJobPolls(sales, 2, 401);
  const handle = await start();
  expect((await handle.result()).status).toBe('succeeded');
  // History keeps the last attempt's start: attempt 2 is the one that completed.
  expect((await activityHistory(h.client, handle.workflowId)).attempts.refresh).toEqual([2]);
  const { jobs, requests } = since(m);
  expect(jobs.map((j) => j.item.name).sort()).toEqual(['Orders', 'Sales (certified)']); // one job each, across both attempts
  expect(requests.filter((r) => r.path.endsWith('/refresh'))).toHaveLength(2);
  const rows = await audit(handle.workflowId);
  expect(rows.map((r) => [r.object_ref, r.status, r.jobs])).toEqual([
    ['Orders', 'succeeded', 1],
    ['Sales (certified)', 'succeeded', 1],
  ]);
  const polls = requests
    .filter((r) => r.path.endsWith(`/jobs/${jobs.find((j) => j.item === sales)?.id}`))
    .map((r) => r.status);
  expect(polls.slice(0, 2)).toEqual([401, 401]); // attempt 1: refused, signed in again, refused again → retryable failure
  expect(new Set(polls.slice(2))).toEqual(new Set([200])); // attempt 2: the same job, polled to its end
  for (const row of rows) expect(row.job_id).toBe(jobs.find((j) => j.item.id === row.object_id)?.id);
});

test('a data source that does not exist fails fast, naming it, before any refresh starts', async () => {
  const missing = 'd0d0d0d0-0000-4000-8000-000000000404';
  setTarget(target({ datasources: ['Sales (certified)', { luid: missing }, 'Sales (draft)'] }));
  const m = mark();
  const handle = await start({ failedRefreshTimeout: '2s' });
  const failure = await handle.result().then(
    () => null,
    (err: unknown) => failureText(err),
  );
  expect(failure).toMatch(new RegExp(`datasource \\{ luid: ${missing} \\} not found on .* \\(HTTP 404\\)`));
  expect(failure).toMatch(/datasource 'Sales \(draft\)' not found .*: no datasource has that name/);
  expect(failure).toMatch(/no retryRefresh within 2s/);
  expect(since(m).jobs).toHaveLength(0); // nothing refreshed: the names are checked first

  const { attempts } = await activityHistory(h.client, handle.workflowId);
  expect(attempts.refresh).toEqual([1]); // not retried
  const status = await handle.query(statusQuery);
  expect(status).toMatchObject({ state: 'failed', steps: { refresh: { status: 'failed' } } });
  expect(status.refresh?.attempts).toEqual([
    expect.objectContaining({ round: 1, outcome: 'failed', detail: expect.stringContaining(missing) }),
  ]);
  const rows = await audit(handle.workflowId);
  expect(rows.find((r) => r.object_ref === `luid:${missing}`)).toMatchObject({ status: 'error', job_id: null });
  const [run] = await h.sql('SELECT status FROM audit.pipeline_runs WHERE workflow_id = $1', [handle.workflowId]);
  expect(run.status).toBe('failed');
});

test('no extract (409090) and no permission (403) fail without retrying, naming each object', async () => {
  const live = tab.addItem('datasource', 'Live Inventory', { hasExtract: false });
  const locked = tab.addItem('workbook', 'Board Pack', { forbidden: true });
  setTarget(target({ datasources: ['Sales (certified)', 'Live Inventory'], workbooks: ['Board Pack'] }));
  const m = mark();
  const handle = await start({ failedRefreshTimeout: '1s' });
  const failure = await handle.result().then(
    () => null,
    (err: unknown) => failureText(err),
  );
  expect(failure).toMatch(/datasource 'Live Inventory' has no extract to refresh \(409090\)/);
  expect(failure).toMatch(
    /workbook 'Board Pack' may not be refreshed by the personal access token's user \(HTTP 403\)/,
  );
  expect((await activityHistory(h.client, handle.workflowId)).attempts.refresh).toEqual([1]);
  const refreshPosts = since(m).requests.filter((r) => r.path.endsWith('/refresh'));
  expect(refreshPosts.filter((r) => r.path.includes(live.id))).toHaveLength(1);
  expect(refreshPosts.filter((r) => r.path.includes(locked.id))).toHaveLength(1);
  // The one that could be refreshed was, and is recorded as such.
  const rows = await audit(handle.workflowId);
  expect(rows.map((r) => [r.object_ref, r.status])).toEqual([
    ['Live Inventory', 'error'],
    ['Sales (certified)', 'succeeded'],
    ['Board Pack', 'error'],
  ]);
});

test('a failed or cancelled job is re-run, and the run succeeds', async () => {
  tab.setOutcomes(sales, [1]);
  tab.setOutcomes(regional, [2]);
  const m = mark();
  const handle = await start();
  expect((await handle.result()).status).toBe('succeeded');
  const { jobs } = since(m);
  expect(jobs.filter((j) => j.item === sales).map((j) => j.finishCode)).toEqual([1, 0]);
  expect(jobs.filter((j) => j.item === regional).map((j) => j.finishCode)).toEqual([2, 0]);
  expect(jobs.filter((j) => j.item === orders)).toHaveLength(1);
  const rows = await audit(handle.workflowId);
  const row = (ref: string) => rows.find((r) => r.object_ref === ref);
  expect(row('Sales (certified)')).toMatchObject({
    status: 'succeeded',
    finish_code: 0,
    jobs: 2,
    reruns: 1,
    job_id: jobs.filter((j) => j.item === sales)[1].id,
  });
  expect(row('Sales (certified)')?.notes).toMatch(/failed \(finishCode 1\)[\s\S]*re-running the refresh \(1 of 2\)/);
  expect(row('Regional Sales')?.notes).toMatch(/cancelled \(finishCode 2\)/);
  expect((await handle.query(statusQuery)).steps.refresh.counts).toMatchObject({ items: 4, jobs: 6 });
});

test('retries exhausted: the run waits in refresh_failed; retryRefresh re-runs only the refresh step and the run completes', async () => {
  setTarget(target({ retries: 1 }));
  tab.setOutcomes(sales, [1, 2]); // failed, then its one re-run cancelled
  const m = mark();
  const handle = await start();
  const blocked = await waitForState(handle, 'refresh_failed');
  expect(blocked.steps.refresh.status).toBe('failed');
  expect(blocked.steps.refresh.detail).toMatch(
    /datasource 'Sales \(certified\)': refresh job \S+ cancelled \(finishCode 2\) after 1 re-run/,
  );
  expect(blocked.refresh?.attempts).toEqual([expect.objectContaining({ round: 1, outcome: 'failed' })]);
  expect(blocked.steps.publish.status).toBe('completed'); // the certified tables are out; only dashboards lag
  expect((await activityHistory(h.client, handle.workflowId)).attempts.refresh).toEqual([1]); // exhausted re-runs are final
  const [failed] = (await audit(handle.workflowId)).filter((r) => r.object_ref === 'Sales (certified)');
  expect(failed).toMatchObject({ status: 'cancelled', finish_code: 2, jobs: 2, round: 1 });

  // A payload without who/why is ignored and said so; then the operator asks for a retry (the stand-in now succeeds).
  await handle.signal(retryRefreshSignal, { by: '', reason: 'x' });
  await handle.signal(retryRefreshSignal, {
    by: 'ops@retail.example',
    reason: 'extract connection password updated on Tableau',
  });
  const result = await handle.result();
  expect(result.status).toBe('succeeded');
  const status = await handle.query(statusQuery);
  expect(status.ignoredSignals).toEqual([
    expect.stringMatching(/^retryRefresh: invalid payload \(by: must name who asked\)/),
  ]);
  expect(status.refresh?.attempts).toEqual([
    expect.objectContaining({ round: 1, outcome: 'failed' }),
    expect.objectContaining({
      round: 2,
      outcome: 'succeeded',
      requested: expect.objectContaining({ by: 'ops@retail.example' }),
    }),
  ]);

  const { scheduled, attempts } = await activityHistory(h.client, handle.workflowId);
  const tables = h.deps.config.datasets[0].tables.length;
  expect(scheduled).toMatchObject({
    extract: tables,
    load: tables,
    transform: 1,
    gate: 1,
    publish: 1,
    refresh: 2,
    audit: 1,
  });
  expect(attempts.refresh).toEqual([1, 1]);
  // Round 2 replaced round 1's row for the same object; one row per object.
  const rows = await audit(handle.workflowId);
  expect(rows).toHaveLength(4);
  expect(rows.find((r) => r.object_ref === 'Sales (certified)')).toMatchObject({
    status: 'succeeded',
    round: 2,
    jobs: 1,
  });
  expect(
    since(m)
      .jobs.filter((j) => j.item === sales)
      .map((j) => j.finishCode),
  ).toEqual([1, 2, 0]);
});

test('no PAT secret or session token reaches the workflow history, the audit or the stand-in log', async () => {
  expect(runs.length).toBeGreaterThanOrEqual(8);
  expect(tab.tokensIssued.length).toBeGreaterThan(0);
  const leaks = [tab.patSecret, ...tab.tokensIssued];
  for (const id of runs) {
    const text = await decodedHistoryText(h.client, id);
    expect(text).toMatch(/\\"round\\":1/); // decoded: the refresh activity's input is readable here
    for (const s of leaks) expect(text).not.toContain(s);
  }
  const audited = JSON.stringify(await h.sql('SELECT * FROM audit.bi_refreshes'));
  const logged = JSON.stringify(tab.requests);
  for (const s of leaks) {
    expect(audited).not.toContain(s);
    expect(logged).not.toContain(s);
  }
});
