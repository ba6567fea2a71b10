import { z } from 'zod';
import { isDuration } from '../config/duration';
import { formatIssues } from '../config/format-issues';

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** True when `s` is an ISO-8601 timestamp with an explicit offset whose date and time exist (no 2026-02-30). */
export function isIsoInstant(s: string): boolean {
  const m = ISO_INSTANT.exec(s);
  if (!m || Number.isNaN(Date.parse(s))) return false;
  // Date.parse rolls Feb 30 over to Mar 2: the fields must survive a round trip through UTC.
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[7] ?? '0'].map(Number);
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
  return (
    t.getUTCFullYear() === y &&
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === mi &&
    t.getUTCSeconds() === sec
  );
}

/** An ISO-8601 instant with an explicit offset, so every worker reads it the same whatever its time zone. */
export const isoInstant = z
  .string()
  .refine(isIsoInstant, { message: 'must be an ISO-8601 timestamp with a time zone, e.g. 2026-11-22T10:15:00Z' });

/** Longest `by` an operator message may carry (audited; kept small so payloads and logs stay bounded). */
export const MAX_BY_CHARS = 200;
/** Longest `reason` an operator message may carry. */
export const MAX_REASON_CHARS = 2000;

/** Input of pipelineRun: one dataset, one window [start, end). */
export const PipelineRunInputSchema = z
  .object({
    /** Dataset name from config. */
    dataset: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a dataset name from config (lower-case identifier)'),
    /** The change window this run owns. */
    window: z.object({ start: isoInstant, end: isoInstant }).strict(),
    /** Overrides the dataset's gate timeout for this run (e.g. '30s' in a drill). */
    gateTimeout: z.string().refine(isDuration, 'must be a duration such as 30s, 15m or 4h').optional(),
    /** Overrides the dataset's bi.failedRefreshTimeout for this run: how long a failed BI refresh waits for retryRefresh. */
    failedRefreshTimeout: z.string().refine(isDuration, 'must be a duration such as 30s, 15m or 4h').optional(),
    /** Source tables whose breaking schema change an operator accepts for this run (raw evolves, baseline moves). */
    acceptDrift: z.array(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a source table name')).optional(),
    /** incremental: the rows whose cursor changed in the window; reload: the window as a business-date partition (backfills). */
    mode: z.enum(['incremental', 'reload']).optional(),
    /** 'load': stop after extract and load (backfill partitions; one publish follows them all). */
    through: z.enum(['load']).optional(),
    /** Start at transform over what raw holds (the publish that follows a backfill's partitions). */
    skipExtract: z.boolean().optional(),
    /** Build every staging model whole from raw instead of merging the keys new loads touched (same result, slower). */
    fullRefresh: z.boolean().optional(),
    /** Workflow id told (signal partitionState) when this run's gate blocks or resumes: its backfill. */
    reportTo: z.string().min(1).optional(),
  })
  .strict()
  .refine((i) => Date.parse(i.window.start) < Date.parse(i.window.end), {
    message: 'window.end must be after window.start',
    path: ['window', 'end'],
  });

export type PipelineRunInput = z.input<typeof PipelineRunInputSchema>;

// A missing field says `required` (zod's default names the expected type, which reads like a bug report).
const text = () => z.string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') });

/** Operator decision carried by retryGate/skipGate. */
export const GateDecisionSchema = z
  .object({
    /** Who decided (audited). */
    by: text().min(1, 'must name who decided').max(MAX_BY_CHARS, `must be at most ${MAX_BY_CHARS} characters`),
    /** Why (audited). */
    reason: text().min(1, 'must say why').max(MAX_REASON_CHARS, `must be at most ${MAX_REASON_CHARS} characters`),
    /** retryGate only: re-run from this step (default: re-run the checks only). */
    from: z.enum(['gate', 'transform', 'extract']).optional(),
  })
  .strict();

export type GateDecisionInput = z.input<typeof GateDecisionSchema>;

/** Operator request carried by retryRefresh: run the BI refresh step again (nothing before it). */
export const RefreshRetrySchema = z
  .object({
    /** Who asked (audited). */
    by: text().min(1, 'must name who asked').max(MAX_BY_CHARS, `must be at most ${MAX_BY_CHARS} characters`),
    /** Why (audited), e.g. what was fixed on the Tableau side. */
    reason: text().min(1, 'must say why').max(MAX_REASON_CHARS, `must be at most ${MAX_REASON_CHARS} characters`),
  })
  .strict();

export type RefreshRetryInput = z.input<typeof RefreshRetrySchema>;

/** A payload's problems as `field: message; …` (what ignored signals and rejected updates say). */
export function payloadIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ');
}

/** Validates workflow input; the message names every bad field. */
export function parsePipelineInput(
  input: unknown,
): { ok: true; value: z.output<typeof PipelineRunInputSchema> } | { ok: false; message: string } {
  const r = PipelineRunInputSchema.safeParse(input);
  if (r.success) {
    // Normalise to UTC ISO so ids, audit rows and stage keys agree whatever offset the caller used.
    const window = {
      start: new Date(r.data.window.start).toISOString(),
      end: new Date(r.data.window.end).toISOString(),
    };
    return { ok: true, value: { ...r.data, window } };
  }
  return { ok: false, message: `invalid pipelineRun input:\n${formatIssues(r.error)}` };
}

const name = (what: string) => z.string().regex(/^[a-z_][a-z0-9_]*$/, `must be a ${what} name (lower-case identifier)`);

/** Input of releaseQuarantine: which quarantined rows an operator releases, who and why. */
export const ReleaseQuarantineInputSchema = z
  .object({
    dataset: name('dataset'),
    /** The model whose quarantine.<model> rows are released. */
    model: name('model'),
    /** The check that quarantined them. */
    check: name('check'),
    /** Only the rows one window's run quarantined (its workflow id); all unreleased rows of the check when omitted. */
    runId: z.string().min(1).optional(),
    by: z.string().min(1, 'must name who released').max(MAX_BY_CHARS, `must be at most ${MAX_BY_CHARS} characters`),
    reason: z.string().min(1, 'must say why').max(MAX_REASON_CHARS, `must be at most ${MAX_REASON_CHARS} characters`),
  })
  .strict();

/** Input of dqReport. */
export const DqReportInputSchema = z.object({
  dataset: name('dataset').optional(),
  /** Results checked at or after this instant. */
  since: isoInstant,
});

/** Validates an input against `schema`; the error message names every bad field. */
export function parseInput<S extends z.ZodType>(
  workflow: string,
  schema: S,
  input: unknown,
): { ok: true; value: z.output<S> } | { ok: false; message: string } {
  const r = schema.safeParse(input);
  return r.success
    ? { ok: true, value: r.data }
    : { ok: false, message: `invalid ${workflow} input:\n${formatIssues(r.error)}` };
}
