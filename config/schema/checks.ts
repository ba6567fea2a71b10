import { z } from 'zod';
import { duration, identifier, severity } from './common';
import { CONTRACT_TYPES, contractType } from './contract-types';

/** When an `error` check fails on too many rows, it escalates to critical (blocks publish). */
const escalation = z
  .object({
    /** More failing rows than this escalates. */
    rows: z.number().int().nonnegative().optional(),
    /** A larger fraction of the model's rows than this escalates, e.g. 0.005 = 0.5%. */
    fraction: z.number().min(0).max(1).optional(),
  })
  .refine((e) => e.rows !== undefined || e.fraction !== undefined, 'give rows or fraction (or both)');

const checkBase = {
  /** Unique check name, shown in audit.dq_results and alerts. */
  name: identifier,
  /** warn records; error quarantines the failing rows and continues; critical blocks publish. */
  severity,
  /** Row checks of severity error: escalate to critical above this many (or this fraction of) failing rows. */
  escalateAbove: escalation.optional(),
};

/** A SQL type name as information_schema spells it (BIGINT, VARCHAR, DECIMAL(14,2), TIMESTAMP WITH TIME ZONE, …). */
/** A schema contract's column type, written the same for every engine (see contract-types.ts). */
const contractColumnType = z
  .string()
  .refine((t) => contractType(t) !== null, { message: `must be one of ${CONTRACT_TYPES}` });

/** Declarative quality checks run against the shadow tables before publish. */
export const CheckSchema = z.discriminatedUnion('type', [
  z.object({ ...checkBase, type: z.literal('not_null'), model: identifier, columns: z.array(identifier).min(1) }),
  /** One key (single or composite) per row. */
  z.object({ ...checkBase, type: z.literal('unique'), model: identifier, columns: z.array(identifier).min(1) }),
  z.object({
    ...checkBase,
    type: z.literal('relationships'),
    model: identifier,
    column: identifier,
    /** Parent model and column every non-null value must exist in. */
    to: z.object({ model: identifier, column: identifier }),
    /**
     * SCD2 parents: the value must exist in a version valid at the child's `at` column
     * (parent.validFrom <= child.at < parent.validTo, validTo NULL = current).
     */
    asOf: z.object({ at: identifier, validFrom: identifier, validTo: identifier }).optional(),
  }),
  z.object({
    ...checkBase,
    type: z.literal('accepted_values'),
    model: identifier,
    column: identifier,
    values: z.array(z.string()).min(1),
  }),
  /** Values outside [min, max] fail (NULLs are not_null's business). */
  z.object({
    ...checkBase,
    type: z.literal('range'),
    model: identifier,
    column: identifier,
    min: z.number().optional(),
    max: z.number().optional(),
  }),
  /** The fraction of NULLs in a column must stay at or below `max`. */
  z.object({
    ...checkBase,
    type: z.literal('null_rate'),
    model: identifier,
    column: identifier,
    max: z.number().min(0).max(1),
  }),
  /** Expected columns and types of a certified table; a missing or retyped column fails, naming it (added ones pass). */
  z.object({
    ...checkBase,
    type: z.literal('schema_contract'),
    model: identifier,
    columns: z.record(identifier, contractColumnType),
  }),
  /** Newest cursor value in raw vs now, per source table, against `maxAge` (default: the dataset's freshnessSla). */
  z.object({
    ...checkBase,
    type: z.literal('freshness'),
    /** Source tables to check; the dataset's incremental and cdc tables when omitted. */
    tables: z.array(identifier).optional(),
    maxAge: duration.optional(),
  }),
  z.object({
    ...checkBase,
    type: z.literal('row_count_reconciliation'),
    /** Source tables to reconcile; all of the dataset's tables when omitted. */
    tables: z.array(identifier).optional(),
  }),
  z.object({
    ...checkBase,
    type: z.literal('totals_match'),
    model: identifier,
    groupBy: z.array(identifier).min(1),
    left: identifier,
    right: identifier,
    /** Allowed relative difference per group, e.g. 0.005 = 0.5%. */
    tolerance: z.number().min(0).max(1),
  }),
  /** Two single-number queries over models (`{{ ref('m') }}`) must agree within `tolerance` (relative). */
  z.object({
    ...checkBase,
    type: z.literal('metric_match'),
    left: z.string().min(1),
    right: z.string().min(1),
    tolerance: z.number().min(0).max(1).default(0),
  }),
  /** A window's source row count per table outside the trailing band of the same hour of day. */
  z.object({
    ...checkBase,
    type: z.literal('volume_anomaly'),
    tables: z.array(identifier).optional(),
    /** Days of history the band is drawn from. */
    days: z.number().int().positive().default(7),
    /** Fewer earlier windows than this at the same hour: the check passes and says there is not enough history. */
    minHistory: z.number().int().positive().default(3),
    /** The band is [min × (1 − slack), max × (1 + slack)] of the history. */
    slack: z.number().min(0).default(0.5),
  }),
  /**
   * A query returning failing rows (`{{ ref('m') }}` for models). With `model` and `key`, an `error`
   * check quarantines the model's rows whose key the query returns.
   */
  z.object({
    ...checkBase,
    type: z.literal('custom_sql'),
    sql: z.string().min(1),
    model: identifier.optional(),
    key: identifier.optional(),
  }),
]);

export type CheckConfig = z.infer<typeof CheckSchema>;
