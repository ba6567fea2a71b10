/**
 * DuckDB's CSV errors quote the source line and the value ("Original Line: 1,"alice@example.com","NaN"") before
 * any masking, and an error message travels into activity and workflow failures, run status and the audit
 * table. What an operator needs is where and what type: line, column, type; the values stay in the source.
 */
export function encoderError(err: unknown, columns: { name: string; type: string }[]): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (!/Original Line:|Could not convert|CSV Error/i.test(message))
    return err instanceof Error ? err : new Error(message);
  const line = /CSV Error on Line: (\d+)/i.exec(message)?.[1];
  const column = /converting column "([^"]+)"/i.exec(message)?.[1];
  const type = columns.find((c) => c.name === column)?.type;
  const where = `${line ? `line ${line} of the COPY stream` : 'the COPY stream'}${column ? `, column "${column}"` : ''}`;
  const what = column ? `a value ${cannotHold(type ?? 'column')}` : 'a row the CSV reader could not parse';
  const error = new Error(`cannot stage ${where}: ${what}; the value is withheld from this message (it may be PII)`);
  error.name = 'SourceValueError';
  return error;
}

const cannotHold = (type: string) => `the ${type} type cannot hold (NaN, ±Infinity or out of range)`;

/** Why a quarantined source row was not staged (stored with it; names the type, never the value). */
export function rejectReason(type: string): string {
  return `source value ${cannotHold(type)}`;
}
