import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, isPortFree } from './ports';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

export interface TemporalDevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` with a SQLite file and the Web UI, and waits until it answers. */
export async function startTemporalDevServer(opts: {
  cliPath: string;
  /** SQLite file the server keeps its state in; its directory also gets `temporal-server.log`. */
  dbFile: string;
  /** Keep state in memory only (the file's directory still holds the log): test runs need no history on disk. */
  inMemory?: boolean;
  /** No Web UI (`--headless`), for test runs. */
  headless?: boolean;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** Codec server the Web UI decodes payloads through (`--ui-codec-endpoint`). */
  uiCodecEndpoint?: string;
  log?: (msg: string) => void;
}): Promise<TemporalDevServer> {
  const log = opts.log ?? (() => {});
  const dbFile = path.resolve(opts.dbFile);
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const logFile = path.join(path.dirname(dbFile), 'temporal-server.log');
  const explicitPorts = opts.port !== undefined && opts.uiPort !== undefined;

  for (let attempt = 1; ; attempt++) {
    // Probing a port and binding it later is racy (e.g. demo and tests starting together); when we picked
    // the ports ourselves, losing that race is retried with fresh ones instead of failing.
    // A headless (test) server leaves the well-known ports to the demo an engineer may be running.
    const preferDefaults = attempt === 1 && !opts.headless;
    const port = opts.port ?? (await choosePort(preferDefaults ? 7233 : undefined));
    const uiPort = opts.uiPort ?? (await choosePort(preferDefaults ? 8233 : undefined, port));
    try {
      return await launch({ ...opts, dbFile, logFile, port, uiPort, log });
    } catch (err) {
      if (explicitPorts || attempt >= 3 || !(err instanceof PortInUseError)) throw err;
      log(`temporal: port ${port} or ${uiPort} was taken meanwhile, retrying with other ports`);
    }
  }
}

class PortInUseError extends Error {}

async function launch(opts: {
  cliPath: string;
  dbFile: string;
  inMemory?: boolean;
  headless?: boolean;
  logFile: string;
  port: number;
  uiPort: number;
  namespace?: string;
  uiCodecEndpoint?: string;
  log: (msg: string) => void;
}): Promise<TemporalDevServer> {
  const { port, uiPort, logFile, log } = opts;
  const namespace = opts.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    ...(opts.inMemory ? [] : ['--db-filename', opts.dbFile]),
    '--ip',
    HOST,
    '--port',
    String(port),
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort)]),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...(opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
  ];
  // The child writes straight to the file, so its output survives even if this process stalls or dies.
  const logFd = fs.openSync(logFile, 'a');
  const logStart = fs.fstatSync(logFd).size;
  fs.writeSync(logFd, `\n--- ${new Date().toISOString()} ${opts.cliPath} ${args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(opts.cliPath, args, { stdio: ['ignore', logFd, logFd] });
  } finally {
    fs.closeSync(logFd);
  }

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    // spawn failures (ENOENT, EACCES) arrive as 'error' without an 'exit'.
    child.once('error', (err) => {
      exited = { code: null, signal: null };
      fs.appendFileSync(logFile, `spawn error: ${err.message}\n`);
      resolve();
    });
  });
  // Don't leave an orphaned server holding the ports if the caller exits without stop().
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // Memoised so repeated or concurrent stop() calls share one shutdown.
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (exited) return;
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(killTimer);
      log(`temporal: dev server on ${HOST}:${port} stopped`);
    })();
    return stopping;
  };

  const address = `${HOST}:${port}`;
  const started = Date.now();
  try {
    await waitUntilReady(address, () => exited, logFile);
  } catch (err) {
    await stop();
    if (exited && /address already in use/.test(readFrom(logFile, logStart))) {
      throw new PortInUseError((err as Error).message);
    }
    throw err;
  }
  const uiUrl = `http://${HOST}:${uiPort}`;
  const ui = opts.headless ? 'no UI' : `UI ${uiUrl}`;
  log(`temporal: dev server ready at ${address} in ${Date.now() - started} ms (${ui}, log ${logFile})`);
  return { address, uiUrl, namespace, stop };
}

async function waitUntilReady(
  address: string,
  exited: () => { code: number | null; signal: NodeJS.Signals | null } | undefined,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no attempt made';
  while (Date.now() < deadline) {
    const status = exited();
    if (status) {
      throw new Error(
        `temporal server start-dev exited early (${status.signal ?? `exit ${status.code}`}); ` +
          `see ${logFile}:\n${readTail(logFile)}`,
      );
    }
    let connection: Connection | undefined;
    try {
      // Short connect timeout: the port is usually not listening yet, and we want to re-check for an early exit.
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.getSystemInfo({});
      return;
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `Temporal dev server at ${address} did not answer within ${READY_TIMEOUT_MS / 1000}s ` +
      `(last error: ${lastError}); see ${logFile}:\n${readTail(logFile)}`,
  );
}

async function choosePort(preferred: number | undefined, avoid?: number): Promise<number> {
  if (preferred !== undefined && preferred !== avoid && (await isPortFree(preferred, HOST))) return preferred;
  for (;;) {
    const port = await freePort(HOST);
    if (port !== avoid) return port;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(offset);
  } catch {
    return '';
  }
}

function readTail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(log unreadable)';
  }
}
