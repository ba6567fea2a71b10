/** Renders rows as a plain aligned text table (what an engineer reads in a terminal or CI log). */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '  (no rows)';
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown) =>
    v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    '  ' + vals.map((v, i) => (/^-?[\d.]+$/.test(v) ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ');
  return [
    line(cols),
    '  ' + widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map((r) => line(cols.map((c) => cell(r[c])))),
  ].join('\n');
}

/** Milliseconds as a short human duration. */
export function ms(value: number | undefined): string {
  if (value === undefined) return '';
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`;
}
