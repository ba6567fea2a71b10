import type { z } from 'zod';
import type { SourceTableConfig } from './sources';

/** What every declaration of one source table must agree on: it decides what raw.<source>__<table> holds. */
const SHARED_FIELDS = ['schema', 'pii', 'exclude', 'mode', 'primaryKey', 'cursor'] as const;

const asText = (value: unknown) => (Array.isArray(value) ? `[${value.join(', ')}]` : String(value));
/** Lists compare as sets: `pii: [phone, email]` declares the same as `pii: [email, phone]`. */
const sameValue = (a: unknown, b: unknown) =>
  Array.isArray(a) && Array.isArray(b) ? asText([...a].sort()) === asText([...b].sort()) : a === b;

/**
 * Every dataset that extracts a source table shares its raw table, so a second declaration that drops
 * `pii` would write plain values beside the tokens (and, in full mode, tombstone the token rows); one
 * that drops `exclude` would stage PCI data. Until streams live in one catalog, every declaration of a
 * (source, table) must carry the same schema, PII, PCI, mode, key and cursor as the first one.
 */
export function checkOneDeclarationPerTable(
  datasets: { name: string; source: string; tables: SourceTableConfig[] }[],
  ctx: z.RefinementCtx,
): void {
  const first = new Map<string, { dataset: string; table: SourceTableConfig }>();
  datasets.forEach((d, i) =>
    d.tables.forEach((t, j) => {
      // Keyed like the raw table (no schema): two schemas' tables of one name would share it too.
      const key = `${d.source}.${t.name}`;
      const seen = first.get(key);
      if (!seen) return void first.set(key, { dataset: d.name, table: t });
      for (const field of SHARED_FIELDS) {
        if (sameValue(seen.table[field], t[field])) continue;
        ctx.addIssue({
          code: 'custom',
          path: ['datasets', i, 'tables', j, field],
          message:
            `${key} is declared by dataset '${seen.dataset}' with ${field} ${asText(seen.table[field])} and here with ` +
            `${asText(t[field])}: every declaration of a source table must agree on ${SHARED_FIELDS.join(', ')} ` +
            `(the datasets share raw.${d.source}__${t.name})`,
        });
      }
    }),
  );
}
