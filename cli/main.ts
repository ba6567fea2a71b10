import { Command, InvalidArgumentError, Option } from 'commander';
import { codecServerCommand } from './codec-server';
import { backfillCommand } from './backfill';
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
  .description(
    'run the embedded stack end to end: Temporal dev server, PostgreSQL, seed, worker, one window, then schedule + changes',
  )
  .option('--once', 'run one window and exit (CI)', false)
  .option('--customers <n>', 'customers to seed', positiveInt('--customers'), 2000)
  .option('--orders <n>', 'orders to seed', positiveInt('--orders'), 5000)
  .option('--scale <n>', 'multiply customers and orders (e.g. 1000 for millions)', positiveInt('--scale'), 1)
  .option('--dataset <name>', 'dataset to run', 'sales_core')
  .option('--change-interval <s>', 'seconds between change-generator ticks', positiveInt('--change-interval'), 5)
  .action(async (opts) => runDemo(opts));

const dq = program.command('dq').description('data quality: results, dataset health, quarantine');
dq.command('report')
  .description(
    'recent check results, dataset health and quarantine; exit code 2 when a dataset has an open critical failure',
  )
  .option('--dataset <name>', 'one dataset (default: all)')
  .option('--since <duration>', 'results checked within this duration, e.g. 24h or 7d', '24h')
  .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or localhost:7233)')
  .option('--task-queue <name>', "Freshline workers' task queue (default: $FRESHLINE_TASK_QUEUE or freshline)")
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

program
  .command('codec-server')
  .description(
    'Temporal codec server for the Web UI and CLI: POST /decode and /encode with the payload keys (FRESHLINE_PAYLOAD_KEYS), bearer token FRESHLINE_CODEC_SERVER_TOKEN',
  )
  .option('--port <n>', 'port to listen on', positiveInt('--port'), 8888)
  .option('--host <ip>', 'interface to bind (0.0.0.0 behind a TLS proxy)', '127.0.0.1')
  .option(
    '--ui-origin <origin...>',
    'Web UI origins allowed by CORS (default http://localhost:8233 http://127.0.0.1:8233)',
  )
  .option('--namespace <name...>', 'only these namespaces (X-Namespace header; default any)')
  .action(async (opts) => codecServerCommand(opts));

// freshline gate skip|retry, refresh retry: operator decisions as Temporal updates (validated, answered at once).
{
  const decision = (c: Command) =>
    c
      .argument('<workflowId>', "the run's workflow id, e.g. sales_core/window/2026-11-22T10:00:00.000Z")
      .requiredOption('--by <who>', 'who decides (audited)')
      .requiredOption('--reason <why>', 'why (audited)')
      .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or localhost:7233)');
  const gate = program.command('gate').description('decide on a run blocked at the quality gate');
  decision(gate.command('skip'))
    .description('publish despite the blocked gate (flagged and audited); exit 1 if the run rejects it')
    .action(async (workflowId: string, opts) => {
      const { gateDecisionCommand } = await import('./gate');
      process.exitCode = await gateDecisionCommand('skip', workflowId, opts);
    });
  decision(gate.command('retry'))
    .description('re-run the blocked gate, optionally from transform or extract; exit 1 if the run rejects it')
    .addOption(new Option('--from <step>', 'redo from this step').choices(['gate', 'transform', 'extract']))
    .action(async (workflowId: string, opts) => {
      const { gateDecisionCommand } = await import('./gate');
      process.exitCode = await gateDecisionCommand('retry', workflowId, opts);
    });
  decision(
    program
      .command('refresh')
      .description('the BI refresh step of a run')
      .command('retry')
      .description('run the failed BI refresh again (run state refresh_failed); exit 1 if the run rejects it'),
  ).action(async (workflowId: string, opts) => {
    const { refreshRetryCommand } = await import('./gate');
    process.exitCode = await refreshRetryCommand(workflowId, opts);
  });
}

// freshline infra snowflake apply: roles, grants, masking, Tableau's user, warehouses, storage integration
// (infra/snowflake/); trust-policy: the AWS role that integration assumes.
const infraSnowflake = program
  .command('infra')
  .description('warehouse security as code')
  .command('snowflake')
  .description('Snowflake DDL rendered from config (infra/snowflake/*.sql)');
infraSnowflake
  .command('apply')
  .description(
    'apply the infra/snowflake files not yet applied to the configured Snowflake account (recorded in <database>.governance.schema_migrations)',
  )
  .option('--dry-run', 'print the rendered statements and connect to nothing', false)
  .option('--role <role>', 'admin role to apply as (default: warehouse.infra.admin.role, ACCOUNTADMIN)')
  .option('--user <login>', 'login to apply as (default: warehouse.infra.admin.user, else warehouse.user)')
  .action(async (opts) => {
    const { infraSnowflakeApplyCommand } = await import('./infra');
    process.exitCode = await infraSnowflakeApplyCommand(opts);
  });
infraSnowflake
  .command('trust-policy')
  .description(
    "print the trust and permissions policies (JSON) of the IAM role the storage integration assumes, from DESC INTEGRATION's values",
  )
  .requiredOption('--iam-user-arn <arn>', 'STORAGE_AWS_IAM_USER_ARN from DESC INTEGRATION <name>')
  .option(
    '--external-id <id>',
    'STORAGE_AWS_EXTERNAL_ID from DESC INTEGRATION (default: warehouse.externalStage.externalId)',
  )
  .action(async (opts) => {
    const { infraSnowflakeTrustPolicyCommand } = await import('./infra');
    process.exitCode = infraSnowflakeTrustPolicyCommand(opts);
  });

program
  .command('backfill')
  .description(
    'backfill a dataset: one partition run per day/hour (extract + load), then one publish; live progress; exit 1 on failures',
  )
  .requiredOption('--dataset <name>', 'dataset')
  .requiredOption('--from <iso>', 'first instant, e.g. 2026-08-01T00:00:00Z')
  .requiredOption('--to <iso>', 'end (exclusive)')
  .option('--partition <day|hour>', 'partition size', 'day')
  .option('--max-concurrent <n>', 'partitions at once', positiveInt('--max-concurrent'), 4)
  .option(
    '--mode <reload|incremental>',
    'reload: by business date; incremental: the changes made in each partition',
    'reload',
  )
  .option('--rerun-completed', 're-run partitions that completed before (idempotent)', false)
  .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or localhost:7233)')
  .option('--task-queue <name>', "Freshline workers' task queue")
  .action(async (opts) => {
    process.exitCode = await backfillCommand(opts);
  });

program
  .command('status')
  .argument('[dataset|workflowId]', 'a dataset (its runs), or one run\'s workflow id (contains "/")')
  .description(
    "recent pipelineRun workflows with their status query (state, window, current step), or one run's status",
  )
  .option('--limit <n>', 'runs to list', positiveInt('--limit'), 20)
  .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or localhost:7233)')
  .action(async (arg: string | undefined, opts) => {
    const { statusCommand } = await import('./status');
    process.exitCode = await statusCommand(arg, opts);
  });

// freshline schedules apply|pause|resume|trigger|catch-up: the Temporal Schedules of every dataset (schedules/).
{
  const target = (c: Command) =>
    c
      .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or localhost:7233)')
      .option('--task-queue <name>', "Freshline workers' task queue (default: $FRESHLINE_TASK_QUEUE or freshline)");
  const schedules = program
    .command('schedules')
    .description('Temporal Schedules: per dataset a window and a reconciliation schedule, plus the freshness monitor');
  target(schedules.command('apply'))
    .description(
      'create or update (in place) every schedule config wants, delete those of removed datasets; prints the diff',
    )
    .option('--dry-run', 'print the diff and change nothing', false)
    .action(async (opts) => {
      const { schedulesApplyCommand } = await import('./schedules');
      process.exitCode = await schedulesApplyCommand(opts);
    });
  target(schedules.command('pause').argument('<dataset>'))
    .description("pause the dataset's window and reconciliation schedules (apply never undoes an operator's pause)")
    .requiredOption('--note <why>', 'why (shown on the schedule in the UI)')
    .action(async (dataset: string, opts) => {
      const { schedulesPauseCommand } = await import('./schedules');
      process.exitCode = await schedulesPauseCommand(dataset, opts);
    });
  target(schedules.command('resume').argument('<dataset>'))
    .description("resume the dataset's schedules")
    .option('--note <why>', 'note left on the schedule')
    .action(async (dataset: string, opts) => {
      const { schedulesResumeCommand } = await import('./schedules');
      process.exitCode = await schedulesResumeCommand(dataset, opts);
    });
  target(schedules.command('trigger').argument('<dataset>'))
    .description('run now: the last complete window before now (or, with --reconcile, the reconciliation)')
    .option('--reconcile', 'trigger the reconciliation schedule instead', false)
    .action(async (dataset: string, opts) => {
      const { schedulesTriggerCommand } = await import('./schedules');
      process.exitCode = await schedulesTriggerCommand(dataset, opts);
    });
  target(schedules.command('catch-up').argument('<dataset>'))
    .description(
      're-fire the window schedule for every window in [from, to), oldest first, one at a time (missed windows beyond the catch-up window)',
    )
    .requiredOption('--from <when>', 'ISO-8601 instant, or a duration before now (e.g. 6h)')
    .option('--to <when>', 'ISO-8601 instant or duration before now (default: now)')
    .action(async (dataset: string, opts) => {
      const { schedulesCatchUpCommand } = await import('./schedules');
      process.exitCode = await schedulesCatchUpCommand(dataset, opts);
    });
}

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`freshline: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
