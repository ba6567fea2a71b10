import { firstLine } from '../../activities/warehouse/engines/snowflake-sql';
import type { Warehouse } from '../../activities/warehouse/warehouse';
import type { InfraPlan, RenderedMigration } from './render';

/** What one apply did, per file. */
export interface ApplyReport {
  /** Files whose statements ran, in order. */
  applied: string[];
  /** Versioned files already applied with the same checksum. */
  skipped: string[];
  /** Statements run, bootstrap and bookkeeping included. */
  statements: number;
}

export interface ApplyOptions {
  /** Recorded in schema_migrations.applied_by (the administrator's login). */
  appliedBy: string;
  /** Progress lines (one per file). */
  log?: (line: string) => void;
}

/**
 * Applies a rendered plan statement by statement, in order, on a session with the admin role:
 * bootstrap files every time; each versioned file unless schema_migrations records it with the same
 * checksum; repeatable files every time. A file is recorded after its last statement succeeded. A failed
 * statement stops the apply, naming the file and statement; nothing of that file is recorded, so the next
 * apply runs it again from its first statement (each is idempotent; Snowflake DDL is not transactional).
 */
export async function applySnowflakeInfra(
  wh: Pick<Warehouse, 'run' | 'query'>,
  plan: InfraPlan,
  options: ApplyOptions,
): Promise<ApplyReport> {
  const log = options.log ?? (() => undefined);
  const report: ApplyReport = { applied: [], skipped: [], statements: 0 };
  const runFile = async (m: RenderedMigration) => {
    for (const [i, sql] of m.statements.entries()) {
      try {
        await wh.run(sql);
      } catch (err) {
        throw new Error(
          `${m.file}: statement ${i + 1} of ${m.statements.length} failed (${firstLine(sql)}): ${(err as Error).message}\n` +
            `The statements before it ran; ${m.file} is not recorded, so the next apply runs it again from the start (every statement is idempotent).`,
          { cause: err },
        );
      }
      report.statements += 1;
    }
  };
  const record = async (m: RenderedMigration) => {
    await wh.run(
      `INSERT INTO ${plan.migrationsTableSql} (version, description, checksum, statements, applied_at, applied_by) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP(), $5)`,
      [m.version, m.description, m.checksum, m.statements.length, options.appliedBy],
    );
    report.statements += 1;
  };

  for (const o of plan.omitted) log(`${o.file}: left out (${o.reason})`);
  for (const m of plan.migrations.filter((x) => x.kind === 'bootstrap')) {
    await runFile(m);
    log(`${m.file}: ${m.statements.length} statement(s)`);
  }
  // History is append-only: the newest row per version is what is applied now.
  const rows = await wh.query<{ version: string; checksum: string }>(
    `SELECT version, checksum FROM ${plan.migrationsTableSql} ORDER BY applied_at, version`,
  );
  report.statements += 1;
  const applied = new Map<string, string>();
  for (const r of rows) applied.set(String(r.version), String(r.checksum));

  for (const m of plan.migrations.filter((x) => x.kind !== 'bootstrap')) {
    const previous = applied.get(m.version);
    if (m.kind === 'versioned' && previous === m.checksum) {
      report.skipped.push(m.file);
      log(`${m.file}: already applied (checksum ${m.checksum.slice(0, 12)})`);
      continue;
    }
    await runFile(m);
    await record(m);
    report.applied.push(m.file);
    const why =
      m.kind === 'repeatable'
        ? 'repeatable'
        : previous === undefined
          ? 'new'
          : `config changed since checksum ${previous.slice(0, 12)}`;
    log(`${m.file}: applied ${m.statements.length} statement(s) (${why})`);
  }
  return report;
}
