import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo';

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const program = new Command('freshline').description('Certified, fresh, auditable data for BI dashboards, on Temporal');

program
  .command('demo')
  .description('run the embedded stack end to end: Temporal dev server, PostgreSQL, seed, worker, one window, then schedule + changes')
  .option('--once', 'run one window and exit (CI)', false)
  .option('--customers <n>', 'customers to seed', positiveInt('--customers'), 2000)
  .option('--orders <n>', 'orders to seed', positiveInt('--orders'), 5000)
  .option('--scale <n>', 'multiply customers and orders (e.g. 1000 for millions)', positiveInt('--scale'), 1)
  .option('--dataset <name>', 'dataset to run', 'sales_core')
  .option('--change-interval <s>', 'seconds between change-generator ticks', positiveInt('--change-interval'), 5)
  .action(async (opts) => runDemo(opts));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`freshline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
