import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Pool } from 'pg';
import { EnvSecretStore } from '../activities/secrets/secret-store';
import { PII_KEY_SECRET } from '../activities/deps';
import { newPayloadKeys, parseKeyRing, PAYLOAD_KEYS_SECRET } from '../codec/keys';
import { PayloadEncryptionCodec, dataConverterWith } from '../codec/payload-codec';
import { startCodecServer } from '../codec/server';
import { getDataset, loadConfig } from '../config/load';
import { parseDuration } from '../config/duration';
import { createDemoSchema, generateChanges, seedDemoData } from '../infra/demo-oltp/generator';
import { startPostgres } from '../infra/local/postgres';
import { ensureTemporalCli } from '../infra/local/temporal-cli';
import { startTemporalDevServer } from '../infra/local/temporal-server';
import { applySchedules } from '../schedules/apply';
import { openEmbeddedDeps } from '../workers/deps';
import { installRuntime } from '../workers/runtime';
import { createFreshlineWorkers } from '../workers/worker';
import { DEFAULT_TASK_QUEUE, windowWorkflowId } from '../workflows/ids';
import { pipelineRun } from '../workflows/pipeline-run';
import { ms } from './format';
import { printRunReport, runUrl } from './report';

/** Options of `freshline demo`. */
export interface DemoOptions {
  once: boolean;
  customers: number;
  orders: number;
  scale: number;
  dataset: string;
  /** Seconds between change-generator ticks. */
  changeInterval: number;
}

const say = (msg: string) => process.stdout.write(`${msg}\n`);

/**
 * The whole embedded stack in one process: Temporal dev server + PostgreSQL + seeded retail OLTP +
 * worker, one window of the dataset, then (unless --once) the schedule and a change stream until Ctrl-C.
 */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const t0 = Date.now();
  const dir = resolve('.dev/demo');
  rmSync(dir, { recursive: true, force: true }); // each demo starts from a fresh source, stage and warehouse
  mkdirSync(dir, { recursive: true });
  installRuntime();
  const config = loadConfig();
  const ds = getDataset(config, opts.dataset);
  const cleanup: (() => Promise<unknown>)[] = [];
  const shutdown = async () => {
    for (const fn of cleanup.reverse()) await fn().catch((err: Error) => say(`  (cleanup: ${err.message})`));
  };

  try {
    const cli = await ensureTemporalCli((m) => say(`  ${m}`));
    say(
      `Temporal CLI: ${cli.path} (${cli.source}${cli.buildSeconds ? `, built in ${cli.buildSeconds.toFixed(0)} s` : ''})`,
    );
    // Payloads are encrypted with a key for this run (unless FRESHLINE_PAYLOAD_KEYS is set); the Web UI decrypts
    // them through a codec server in this process. The browser cannot send a bearer token, so this one has none:
    // loopback only, loopback Host header, CORS for the demo's UI origin only (see README, Payload encryption).
    const payloadKeys = process.env[PAYLOAD_KEYS_SECRET] ?? newPayloadKeys('demo');
    const codec = new PayloadEncryptionCodec(parseKeyRing(payloadKeys));
    const uiOrigins: string[] = [];
    const codecServer = await startCodecServer({ codec, token: null, allowedOrigins: (o) => uiOrigins.includes(o) });
    cleanup.push(() => codecServer.close());
    const [temporal, pg] = await Promise.all([
      startTemporalDevServer({ cliPath: cli.path, dbFile: join(dir, 'temporal.db'), uiCodecEndpoint: codecServer.url }),
      startPostgres({ baseDir: dir }),
    ]);
    cleanup.push(
      () => temporal.stop(),
      () => pg.stop(),
    );
    uiOrigins.push(temporal.uiUrl, temporal.uiUrl.replace('//127.0.0.1:', '//localhost:'));
    say(
      `Temporal dev server: ${temporal.address} (Web UI ${temporal.uiUrl}); PostgreSQL: 127.0.0.1:${pg.port} (wal_level=logical)`,
    );
    say(
      `Payloads encrypted (AES-256-GCM, key '${codec.currentKeyId}'); the Web UI decrypts them through the codec server ${codecServer.url}`,
    );

    const pool = new Pool({ connectionString: pg.url, max: 4, application_name: 'freshline-demo-generator' });
    pool.on('error', () => undefined); // idle clients see the cluster stop during shutdown
    cleanup.push(() => pool.end());
    await createDemoSchema(pool);
    const seeded = await seedDemoData(pool, {
      customers: opts.customers * opts.scale,
      orders: opts.orders * opts.scale,
      seed: 7,
    });
    say(
      `Seeded shop: ${seeded.customers} customers, ${seeded.orders} orders, ${seeded.orderItems} lines, ${seeded.payments} payments, ` +
        `${seeded.refunds} refunds in ${seeded.seconds.toFixed(1)} s`,
    );

    // Secrets live in a 0600 file in the data dir (git-ignored), never in config, logs or workflow payloads;
    // `npm run freshline -- …` commands find it (cli/secrets.ts cliDataDir) and read the same keys from it.
    const secretsFile = join(dir, 'data', 'secrets.env');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(
      secretsFile,
      `SHOP_DB_URL=${pg.url}\n${PII_KEY_SECRET}=${randomBytes(32).toString('hex')}\n${PAYLOAD_KEYS_SECRET}=${payloadKeys}\n`,
      { mode: 0o600 },
    );
    const deps = await openEmbeddedDeps({
      dataDir: join(dir, 'data'),
      config,
      secrets: new EnvSecretStore({}, secretsFile),
    });
    cleanup.push(() => deps.close());
    const nativeConnection = await NativeConnection.connect({ address: temporal.address });
    cleanup.push(() => nativeConnection.close());
    const workers = await createFreshlineWorkers({ connection: nativeConnection, deps });
    const running = workers.run();
    cleanup.push(async () => {
      workers.shutdown();
      await running;
    });
    const connection = await Connection.connect({ address: temporal.address });
    cleanup.push(() => connection.close());
    const client = new Client({ connection, dataConverter: dataConverterWith(codec) });

    // The window containing now: the schedule's firing at its end re-runs it idempotently with anything written since.
    const cadence = parseDuration(ds.cadence);
    const startMs = Math.floor(Date.now() / cadence) * cadence;
    const window = { start: new Date(startMs).toISOString(), end: new Date(startMs + cadence).toISOString() };
    say(`\nRunning ${ds.name} for window [${window.start}, ${window.end}) ...`);
    const handle = await client.workflow.start(pipelineRun, {
      taskQueue: DEFAULT_TASK_QUEUE,
      workflowId: windowWorkflowId(ds.name, window.start),
      args: [{ dataset: ds.name, window }],
    });
    const summary = await handle.result();
    await printRunReport(
      deps.warehouse,
      summary,
      handle.firstExecutionRunId,
      runUrl(temporal.uiUrl, temporal.namespace, handle.workflowId, handle.firstExecutionRunId),
    );
    say(
      `\nWhere to look: warehouse ${deps.warehouse.path} (schemas raw, shadow_${ds.name}, certified, bi = dashboard views, audit incl. ` +
        `dataset_health, quarantine), stage ${join(dir, 'data', 'stage')}, Temporal log ${join(dir, 'temporal-server.log')}`,
    );
    say(`Demo ready in ${ms(Date.now() - t0)}.`);
    if (summary.status !== 'succeeded') throw new Error(`run ended ${summary.status}`);
    if (opts.once) return;

    const [applied] = await applySchedules(client, config, { datasets: [ds.name] });
    say(
      `\nSchedule ${applied.scheduleId} ${applied.action}: every ${ds.cadence}. Change generator writing every ${opts.changeInterval} s. Ctrl-C to stop.`,
    );
    say(
      `Meanwhile (keys found in ${join(dir, 'data', 'secrets.env')}): npm run freshline -- dq report --address ${temporal.address}; ` +
        `npm run freshline -- status --address ${temporal.address}`,
    );
    cleanup.push(() => client.schedule.getHandle(applied.scheduleId).delete());
    await new Promise<void>((resolveStop) => {
      let tick = 0;
      const timer = setInterval(() => {
        generateChanges(pool, {
          newOrders: 20,
          updates: 15,
          lateCorrections: 3,
          cancellations: 1,
          refunds: 1,
          seed: ++tick,
        })
          .then(
            (c) =>
              tick % 6 === 1 &&
              say(
                `  changes: +${c.inserted} orders, ${c.updated} updates, ${c.corrected} late corrections, ` +
                  `${c.cancelled} cancellations, ${c.refunded} refunds (every ${opts.changeInterval} s)`,
              ),
          )
          .catch((err: Error) => say(`  change generator: ${err.message}`));
      }, opts.changeInterval * 1000);
      const stop = () => {
        clearInterval(timer);
        say('\nStopping: schedule, worker, Temporal, PostgreSQL ...');
        resolveStop();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  } finally {
    await shutdown();
    say('Stopped.');
  }
}
