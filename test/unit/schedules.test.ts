import { summariseMissed } from '../../activities/warehouse/audit/freshness';
import { catchUpTo, instantArg } from '../../cli/schedules';
import { loadConfig } from '../../config/load';
import { desiredSchedules, kindOfScheduleId } from '../../schedules/apply';
import { CONFIG_PAUSE_NOTE, describeSpec, formatMs, planState, type DesiredSchedule } from '../../schedules/diff';
import { cadenceWindows } from '../../schedules/windows';

test('the shipped config wants a window and a reconciliation schedule per dataset, and the freshness monitor', () => {
  const wanted = desiredSchedules(loadConfig());
  expect(wanted.map((d) => [d.scheduleId, d.kind, d.specSummary, d.action.workflowType, d.policies])).toEqual([
    [
      'freshline/sales_core',
      'window',
      'every 15m',
      'scheduledWindow',
      { overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 },
    ],
    [
      'freshline/sales_core/reconcile',
      'reconcile',
      'cron 0 2 * * * UTC',
      'reconcileRecent',
      { overlap: 'SKIP', catchupWindow: 3_600_000 },
    ],
    ['freshline/finance', 'window', 'every 4h', 'scheduledWindow', { overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 }],
    [
      'freshline/finance/reconcile',
      'reconcile',
      'cron 0 2 * * * UTC',
      'reconcileRecent',
      { overlap: 'SKIP', catchupWindow: 3_600_000 },
    ],
    [
      'freshline/operations',
      'window',
      'every 1h',
      'scheduledWindow',
      { overlap: 'BUFFER_ONE', catchupWindow: 3_600_000 },
    ],
    [
      'freshline/operations/reconcile',
      'reconcile',
      'cron 0 2 * * * UTC',
      'reconcileRecent',
      { overlap: 'SKIP', catchupWindow: 3_600_000 },
    ],
    [
      'freshline/monitor/freshness',
      'monitor',
      'every 5m',
      'freshnessMonitor',
      { overlap: 'SKIP', catchupWindow: 300_000 },
    ],
  ]);
  expect(wanted[1].action.args).toEqual([{ dataset: 'sales_core', days: 7 }]);
  // The demo's narrow apply: only the named datasets' window schedules.
  expect(desiredSchedules(loadConfig(), { datasets: ['sales_core'] }).map((d) => d.scheduleId)).toEqual([
    'freshline/sales_core',
  ]);
  const every = desiredSchedules({ ...loadConfig(), reconciliation: { every: '12h', days: 3 } })[1];
  expect([every.specSummary, every.spec]).toEqual(['every 12h', { intervals: [{ every: 43_200_000 }] }]);
});

test('ids say what a schedule is', () => {
  expect(kindOfScheduleId('freshline/sales_core')).toEqual({ kind: 'window', dataset: 'sales_core' });
  expect(kindOfScheduleId('freshline/sales_core/reconcile')).toEqual({ kind: 'reconcile', dataset: 'sales_core' });
  expect(kindOfScheduleId('freshline/monitor/freshness')).toEqual({ kind: 'monitor', dataset: null });
  expect(kindOfScheduleId('freshline/Other thing')).toEqual({ kind: 'unknown', dataset: null });
});

test('described specs read back as the summary apply compares', () => {
  expect(formatMs(900_000)).toBe('15m');
  expect(formatMs(5_400_000)).toBe('90m');
  expect(formatMs(86_400_000)).toBe('1d');
  expect(formatMs(1_500)).toBe('1500ms');
  expect(describeSpec({ intervals: [{ every: 900_000, offset: 0 }], calendars: [] })).toBe('every 15m');
  expect(describeSpec({ intervals: [{ every: 3_600_000, offset: 300_000 }] })).toBe('every 1h offset 5m');
  const calendar = { second: [], minute: [], hour: [], dayOfMonth: [], month: [], year: [], dayOfWeek: [] };
  expect(
    describeSpec({ calendars: [{ ...calendar, comment: 'freshline: cron 0 2 * * * UTC' }], timezone: 'UTC' }),
  ).toBe('cron 0 2 * * * UTC');
  expect(describeSpec({ calendars: [calendar], timezone: 'Europe/Paris' })).toMatch(
    /^calendar \{.*\}; timezone Europe\/Paris$/,
  );
});

test("apply pauses and resumes only what config paused, never an operator's pause", () => {
  const want = (paused: boolean) => ({ paused, dataset: 'sales_core' }) as DesiredSchedule;
  expect(planState(want(true), undefined)).toMatchObject({ paused: true, note: CONFIG_PAUSE_NOTE, changes: [] });
  expect(planState(want(true), { paused: false })).toMatchObject({
    paused: true,
    changes: ['paused: no → yes (schedule.paused in config)'],
  });
  expect(planState(want(false), { paused: true, note: CONFIG_PAUSE_NOTE })).toMatchObject({
    paused: false,
    changes: ['paused: yes → no (config no longer pauses it)'],
  });
  expect(planState(want(false), { paused: true, note: 'incident 7' })).toMatchObject({
    paused: true,
    note: 'incident 7',
    changes: [],
    notes: [expect.stringContaining('stays paused by an operator (incident 7)')],
  });
  expect(planState(want(false), { paused: false, note: '' })).toMatchObject({ paused: false, changes: [], notes: [] });
});

test('cadence windows inside a range align to the cadence; missed ones merge into gaps', () => {
  expect(cadenceWindows('15m', '2026-11-22T10:07:00Z', '2026-11-22T10:50:00Z')).toEqual([
    { start: '2026-11-22T10:15:00.000Z', end: '2026-11-22T10:30:00.000Z' },
    { start: '2026-11-22T10:30:00.000Z', end: '2026-11-22T10:45:00.000Z' },
  ]);
  expect(cadenceWindows('15m', '2026-11-22T10:00:00Z', '2026-11-22T10:14:00Z')).toEqual([]);
  expect(() => cadenceWindows('1s', '2026-01-01T00:00:00Z', '2026-11-22T00:00:00Z')).toThrow(/ask for at most/);
  const w = (h: number, m: number) => ({
    start: `2026-11-22T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00.000Z`,
    end: `2026-11-22T${String(m === 45 ? h + 1 : h).padStart(2, '0')}:${String((m + 15) % 60).padStart(2, '0')}:00.000Z`,
  });
  const summary = summariseMissed([w(10, 0), w(10, 15), w(11, 0), w(12, 0), w(13, 0)], { from: 'a', to: 'b' }, 2);
  expect(summary).toEqual({
    from: 'a',
    to: 'b',
    count: 5,
    truncated: true,
    gaps: [
      { start: w(10, 0).start, end: w(10, 15).end, windows: 2 },
      { start: w(11, 0).start, end: w(11, 0).end, windows: 1 },
    ],
  });
});

test('CLI instants: ISO-8601 or a duration before now', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  expect(instantArg('6h', now).toISOString()).toBe('2026-11-22T06:00:00.000Z');
  expect(instantArg('2026-11-20T01:30:00Z', now).toISOString()).toBe('2026-11-20T01:30:00.000Z');
  expect(() => instantArg('yesterday', now)).toThrow(/neither an ISO-8601 instant/);
});

test('catch-up --to in the future (beyond one cadence) is rejected naming --to; up to one cadence ahead is accepted', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  expect(() => catchUpTo('2036-11-22T12:00:00Z', '15m', now)).toThrow(
    /^--to: 2036-11-22T12:00:00.000Z is more than one cadence \(15m\)/,
  );
  expect(catchUpTo('2026-11-22T12:15:00Z', '15m', now).toISOString()).toBe('2026-11-22T12:15:00.000Z');
  expect(catchUpTo(undefined, '15m', now)).toEqual(now);
});
