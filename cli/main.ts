import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo';
import { dqReleaseCommand, dqReportCommand } from './dq';

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

const dq = program.command('dq').description('data quality: results, dataset health, quarantine');
dq.command('report')
  .description('recent check results, dataset health and quarantine; exit code 2 when a dataset has an open critical failure')
  .option('--dataset <name>', 'one dataset (default: all)')
  .option('--since <duration>', 'results checked within this duration, e.g. 24h or 7d', '24h')
  .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or localhost:7233)')
  .option('--task-queue <name>', 'Freshline workers\' task queue (default: $FRESHLINE_TASK_QUEUE or freshline)')
  .action(async (opts) => {
    process.exitCode = await dqReportCommand(opts);
  });
dq.command('release')
  .description("release one check's quarantined rows after review; the next run publishes them")
  .requiredOption('--dataset <name>', 'dataset')
  .requiredOption('--model <name>', 'model whose quarantine.<model> rows to release')
  .requiredOption('--check <name>', 'the check that quarantined them')
  .option('--run <workflowId>', "only the rows one window's run quarantined")
  .requiredOption('--by <who>', 'who releases (audited)')
  .requiredOption('--reason <why>', 'why (audited)')
  .option('--address <host:port>', 'Temporal frontend')
  .option('--task-queue <name>', "Freshline workers' task queue")
  .action(async (opts) => {
    process.exitCode = await dqReleaseCommand(opts);
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`freshline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
