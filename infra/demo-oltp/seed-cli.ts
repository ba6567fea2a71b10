/**
 * Seeds the demo OLTP database and prints the SeedSummary as JSON.
 *   tsx infra/demo-oltp/seed-cli.ts --url postgresql://... --customers 2000 --orders 5000 [--scale 1000]
 */
import { Command, InvalidArgumentError } from 'commander';
import { Pool } from 'pg';
import { createDemoSchema, seedDemoData, type SeedSummary } from './generator';

/** Parsed command-line options. */
export interface SeedCliOptions {
  url: string;
  customers: number;
  orders: number;
  scale: number;
  seed: number;
  days: number;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** Parses argv (as in process.argv) into options; --url falls back to $DATABASE_URL. */
export function parseSeedCliArgs(argv: readonly string[]): SeedCliOptions {
  const program: Command = new Command()
    .name('seed-cli')
    .description('Apply the demo OLTP schema and seed it with deterministic synthetic data')
    .option('--url <url>', 'PostgreSQL connection string (default: $DATABASE_URL)', process.env['DATABASE_URL'])
    .option('--customers <n>', 'customers to create', nonNegativeInt, 2000)
    .option('--orders <n>', 'orders to create', nonNegativeInt, 5000)
    .option('--scale <n>', 'multiplies customers and orders (e.g. 1000 for benchmarks)', positiveNumber, 1)
    .option('--seed <n>', 'PRNG seed (same seed, same data)', nonNegativeInt, 20240601)
    .option('--days <n>', 'spread orders over the last N days', positiveNumber, 30)
    .parse([...argv]);
  const opts = program.opts<Omit<SeedCliOptions, 'url'> & { url?: string }>();
  if (!opts.url) program.error('--url is required (or set DATABASE_URL)');
  return { ...opts, url: opts.url };
}

/** Applies the schema, seeds the scaled volumes and returns the summary. */
export async function runSeedCli(opts: SeedCliOptions): Promise<SeedSummary> {
  const pool = new Pool({ connectionString: opts.url, max: 1 });
  // An idle-client error (server restart) would otherwise crash the process without a message.
  pool.on('error', (err) => console.error(`postgres pool error: ${err.message}`));
  try {
    await createDemoSchema(pool);
    return await seedDemoData(pool, {
      customers: Math.round(opts.customers * opts.scale),
      orders: Math.round(opts.orders * opts.scale),
      seed: opts.seed,
      days: opts.days,
    });
  } finally {
    await pool.end();
  }
}

if (require.main === module) {
  runSeedCli(parseSeedCliArgs(process.argv))
    .then((summary) => console.log(JSON.stringify(summary, null, 2)))
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    });
}
