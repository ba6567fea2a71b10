import type { SourceTableConfig } from '../../../config/schema';
import type { StagedColumn } from './manifest';

/** How a source table's columns changed since the last load. */
export interface SchemaDrift {
  added: string[];
  dropped: string[];
  renamed: { from: string; to: string }[];
  retyped: { column: string; from: string; to: string; widening: boolean }[];
  /** True when certified tables could break or silently change meaning: publish of dependants is held. */
  breaking: boolean;
  /** New columns of a table declaring PII/PCI not yet listed in pii, exclude or allowed: held even if accepted. */
  held?: string[];
  /** One line naming every change, for alerts and the run status. */
  summary: string;
}

const INT_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };

/** True when a value of type `from` always fits `to` unchanged (PostgreSQL format_type names). */
export function isWidening(from: string, to: string): boolean {
  if (from === to) return true;
  if (INT_RANK[from] && INT_RANK[to]) return INT_RANK[to] >= INT_RANK[from];
  if (INT_RANK[from] && /^numeric(\(\d+,\d+\))?$/.test(to)) return true;
  if (from === 'real' && to === 'double precision') return true;
  const num = (t: string) => /^numeric\((\d+),(\d+)\)$/.exec(t);
  const [nf, nt] = [num(from), num(to)];
  if (nf && to === 'numeric') return true;
  if (nf && nt) return Number(nt[2]) >= Number(nf[2]) && Number(nt[1]) - Number(nt[2]) >= Number(nf[1]) - Number(nf[2]);
  const len = (t: string) => /^(character varying|character)\((\d+)\)$/.exec(t);
  const [lf, lt] = [len(from), len(to)];
  if (lf && (to === 'text' || to === 'character varying')) return true;
  if (lf && lt && lf[1] === lt[1]) return Number(lt[2]) >= Number(lf[2]);
  if (from === 'character varying' && to === 'text') return true;
  if (from === 'json' && to === 'jsonb') return true;
  return false;
}

/**
 * Compares the last loaded schema with the live one. Added columns flow through (raw evolves);
 * dropped, renamed and narrowed or re-interpreted columns are breaking. A rename is inferred when
 * exactly one column disappeared and one of the same type appeared in its place.
 */
export function compareSchemas(previous: StagedColumn[], live: StagedColumn[]): SchemaDrift | null {
  const before = new Map(previous.map((c) => [c.name, c]));
  const after = new Map(live.map((c) => [c.name, c]));
  let added = live.filter((c) => !before.has(c.name));
  let dropped = previous.filter((c) => !after.has(c.name));
  const renamed: SchemaDrift['renamed'] = [];
  if (
    added.length === 1 &&
    dropped.length === 1 &&
    added[0].sourceType === dropped[0].sourceType &&
    live.indexOf(added[0]) === previous.indexOf(dropped[0])
  ) {
    renamed.push({ from: dropped[0].name, to: added[0].name });
    added = [];
    dropped = [];
  }
  const retyped = live
    .filter((c) => before.has(c.name) && before.get(c.name)!.sourceType !== c.sourceType)
    .map((c) => {
      const from = before.get(c.name)!.sourceType;
      return { column: c.name, from, to: c.sourceType, widening: isWidening(from, c.sourceType) };
    });
  if (!added.length && !dropped.length && !renamed.length && !retyped.length) return null;
  const breaking = dropped.length > 0 || renamed.length > 0 || retyped.some((r) => !r.widening);
  const parts = [
    ...added.map((c) => `added ${c.name} ${c.sourceType}`),
    ...dropped.map((c) => `dropped ${c.name}`),
    ...renamed.map((r) => `renamed ${r.from} → ${r.to}`),
    ...retyped.map((r) => `${r.widening ? 'widened' : 'retyped'} ${r.column} ${r.from} → ${r.to}`),
  ];
  return {
    added: added.map((c) => c.name),
    dropped: dropped.map((c) => c.name),
    renamed,
    retyped,
    breaking,
    summary: parts.join(', '),
  };
}

/**
 * In a table declaring PII or PCI (non-empty `pii` or `exclude`), a new column may be PII too: it is held
 * (breaking, and not released by acceptDrift) until config lists it in `pii`, `exclude` or `allowed`.
 * Excluded columns never reach here (they are not read), and listed pii columns are masked at extraction.
 */
export function holdUnlistedColumns(
  drift: SchemaDrift | null,
  table: Pick<SourceTableConfig, 'schema' | 'name' | 'pii' | 'exclude' | 'allowed'>,
): SchemaDrift | null {
  if (!drift || (!table.pii.length && !table.exclude.length)) return drift;
  const listed = new Set([...table.pii, ...table.allowed]);
  const held = [...drift.added, ...drift.renamed.map((r) => r.to)].filter((c) => !listed.has(c));
  if (!held.length) return drift;
  const fix =
    `held: ${table.schema}.${table.name} declares PII/PCI, so new column${held.length > 1 ? 's' : ''} ` +
    `${held.join(', ')} load${held.length > 1 ? '' : 's'} only once listed in its pii (tokenized), ` +
    `exclude (never read) or allowed (not PII) config`;
  return { ...drift, breaking: true, held, summary: `${drift.summary} — ${fix}` };
}
