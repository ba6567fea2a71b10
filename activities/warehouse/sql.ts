/** Quotes one SQL identifier (schema, table or column); the only way names reach SQL in Freshline. */
export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)) throw new Error(`refusing unsafe SQL identifier '${name}'`);
  return `"${name}"`;
}

/** Quotes a schema-qualified name. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** Quotes a string literal for the few statements that cannot take bind parameters (COPY, DDL). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A timestamp as the warehouse renders it ('2026-11-22 06:00:00+00') in ISO form for Date.parse. */
export function isoFromTimestamp(ts: string): string {
  return ts.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
}
