import {
  BackfillInputSchema,
  MAX_BACKFILL_PARTITIONS,
  partitionCount,
  partitionStarts,
} from '../../workflows/backfill';
import { GateDecisionSchema, parsePipelineInput, payloadIssues, RefreshRetrySchema } from '../../workflows/input';
import { formatIssues } from '../../config/format-issues';

const backfillIssues = (input: unknown): string => {
  const r = BackfillInputSchema.safeParse(input);
  return r.success ? 'accepted' : formatIssues(r.error);
};
const pipelineIssues = (input: unknown): string => {
  const r = parsePipelineInput(input);
  return r.ok ? 'accepted' : r.message;
};
const base = { dataset: 'retail', from: '2026-08-01T00:00:00Z', to: '2026-08-03T00:00:00Z' };
const window = { start: '2026-08-01T00:00:00Z', end: '2026-08-01T01:00:00Z' };

describe('workflow input bounds', () => {
  test('a timestamp without a zone, a non-date and Feb 30 are rejected naming the field', () => {
    expect(backfillIssues({ ...base, from: '2026-08-01T00:00:00' })).toMatch(/from.*time zone/);
    expect(backfillIssues({ ...base, from: 'T 2026' })).toMatch(/from.*time zone/);
    expect(backfillIssues({ ...base, from: '2026-02-30T00:00:00Z' })).toMatch(/from.*ISO-8601/);
    expect(pipelineIssues({ dataset: 'retail', window: { ...window, start: '2026-02-30T00:00:00Z' } })).toMatch(
      /window\.start/,
    );
    expect(backfillIssues({ ...base, from: '2026-07-31T23:00:00+02:00' })).toBe('accepted');
  });

  test('unknown fields are rejected naming them', () => {
    expect(backfillIssues({ ...base, max_concurrent: 8 })).toMatch(/max_concurrent/);
    expect(pipelineIssues({ dataset: 'retail', window, gate_timeout: '30s' })).toMatch(/gate_timeout/);
    expect(pipelineIssues({ dataset: 'retail', window: { ...window, tz: 'UTC' } })).toMatch(/tz/);
  });

  test('a backfill over more partitions than the cap is rejected with the count and the cap, without listing them', () => {
    const thousandYears = { ...base, from: '1026-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z', partition: 'hour' };
    const issues = backfillIssues(thousandYears);
    expect(issues).toMatch(/to/);
    expect(issues).toContain(
      `would be ${partitionCount(thousandYears.from, thousandYears.to, 'hour')} hour partitions`,
    );
    expect(issues).toContain(`at most ${MAX_BACKFILL_PARTITIONS}`);
    expect(partitionCount(thousandYears.from, thousandYears.to, 'hour')).toBe(8_765_832);
  });

  test('partitionCount agrees with the list it replaces', () => {
    for (const [from, to, p] of [
      ['2026-08-01T00:30:00Z', '2026-08-03T00:00:00Z', 'day'],
      ['2026-08-01T00:30:00Z', '2026-08-01T05:00:01Z', 'hour'],
      ['2026-08-01T00:00:00Z', '2026-08-01T01:00:00Z', 'hour'],
    ] as const)
      expect(partitionCount(from, to, p)).toBe(partitionStarts(from, to, p).length);
  });

  test('signal and update text beyond its bound is rejected naming the field', () => {
    const gate = GateDecisionSchema.safeParse({ by: 'x'.repeat(201), reason: 'y'.repeat(2001) });
    expect(gate.success).toBe(false);
    expect(payloadIssues(gate.error!)).toMatch(/by: must be at most 200 characters; reason: must be at most 2000/);
    const refresh = RefreshRetrySchema.safeParse({ by: 'ops', reason: 'y'.repeat(2001) });
    expect(payloadIssues(refresh.error!)).toMatch(/^reason: must be at most 2000 characters$/);
    expect(GateDecisionSchema.safeParse({ by: 'x'.repeat(200), reason: 'y'.repeat(2000) }).success).toBe(true);
  });
});
