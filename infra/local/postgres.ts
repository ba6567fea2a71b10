import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './ports';

const execFileAsync = promisify(execFile);

const PG_ROOT = '/usr/lib/postgresql';
const DB_NAME_RE = /^[a-z_][a-z0-9_]*$/;
// sockaddr_un.sun_path is 108 bytes on Linux; postgres refuses longer socket paths.
const MAX_SOCKET_PATH = 100;

export interface PgCluster {
  url: string;
  host: string;
  port: number;
  user: string;
  dataDir: string;
  stop(): Promise<void>;
  /** Stops the server but keeps the cluster (an outage, a restart); `resume()` starts it again on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/** Returns the newest /usr/lib/postgresql/<version>/bin that contains initdb, or throws naming the package to install. */
export function findPostgresBin(): string {
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(PG_ROOT);
  } catch {
    // No PG_ROOT at all: fall through to the "not installed" error.
  }
  const candidates = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(PG_ROOT, v, 'bin'))
    .filter((dir) => isExecutable(path.join(dir, 'initdb')));
  if (candidates.length === 0) {
    throw new Error(
      `PostgreSQL server binaries not found (looked for ${PG_ROOT}/*/bin/initdb). ` +
        'Install them with: apt-get install -y postgresql',
    );
  }
  return candidates[0];
}

/** Like findPostgresBin, but as root installs the Debian `postgresql` package first when it is missing. */
export function ensurePostgresInstalled(log: (msg: string) => void = () => {}): string {
  try {
    return findPostgresBin();
  } catch (err) {
    if (!isRoot()) {
      throw new Error(
        `${(err as Error).message}. Not running as root, so not installing it automatically: ` +
          'run `sudo apt-get install postgresql` and retry.',
        { cause: err },
      );
    }
  }
  log('postgres: server binaries missing, installing with apt-get (one time)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    // Synchronous on purpose: this runs once per machine, and callers cannot proceed without it.
    execFileSync('apt-get', ['update'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    throw new Error(`apt-get install postgresql failed: ${tail(stderrOf(err))}`, { cause: err });
  }
  return findPostgresBin();
}

/** Starts a throwaway PostgreSQL cluster on a free loopback port with wal_level=logical. */
export async function startPostgres(opts: {
  baseDir: string;
  port?: number;
  log?: (msg: string) => void;
}): Promise<PgCluster> {
  const log = opts.log ?? (() => {});
  const bin = ensurePostgresInstalled(log);
  const port = opts.port ?? (await freePort());
  const asRoot = isRoot();
  if (asRoot) assertPostgresUserExists();

  const dataDir = await chooseDataDir(path.resolve(opts.baseDir), port, asRoot, log);
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // initdb refuses to run as root, so the postgres OS user must own the (still empty) data dir.
  if (asRoot) chownToPostgres(dataDir);

  const run = (tool: string, args: string[], timeoutMs: number) =>
    runPgTool(path.join(bin, tool), args, asRoot, timeoutMs);

  const started = Date.now();
  try {
    // --no-sync: the cluster is thrown away, so durability of initdb's files is pointless and slow.
    await run(
      'initdb',
      ['-D', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-sync'],
      120_000,
    );
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`initdb failed for ${dataDir}: ${tail(stderrOf(err))}`, { cause: err });
  }
  const initMs = Date.now() - started;

  const logFile = path.join(dataDir, 'server.log');
  // fsync/full_page_writes/synchronous_commit off: the cluster is disposable, so crash safety buys nothing
  // and costs a lot of test time. wal_level=logical + senders/slots: the pipeline uses logical decoding.
  const serverOpts = [
    `-c port=${port}`,
    '-c listen_addresses=127.0.0.1',
    // pg_ctl runs postgres through /bin/sh, so the path is single-quoted to survive spaces.
    `-c unix_socket_directories='${dataDir}'`,
    '-c wal_level=logical',
    '-c max_wal_senders=10',
    '-c max_replication_slots=10',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
    '-c shared_buffers=256MB',
  ].join(' ');
  const pgStart = () =>
    run('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', serverOpts, '-w', '-t', '60', 'start'], 90_000);
  try {
    await pgStart();
  } catch (err) {
    const serverLog = readTail(logFile);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `pg_ctl start failed on port ${port}: ${tail(stderrOf(err))}${serverLog ? `\nserver.log:\n${serverLog}` : ''}`,
      { cause: err },
    );
  }
  log(`postgres: cluster on 127.0.0.1:${port} ready (initdb ${initMs} ms, start ${Date.now() - started - initMs} ms)`);

  // Best effort against orphaned clusters when the caller forgets stop() or the process exits early;
  // only synchronous work is possible in an 'exit' handler.
  const onExit = () => {
    try {
      runPgToolSync(path.join(bin, 'pg_ctl'), ['-D', dataDir, 'stop', '-m', 'immediate'], asRoot);
    } catch {
      // Already stopped, or pg_ctl gone; nothing more we can do while exiting.
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // Memoised so a second (or concurrent) stop() waits for the first instead of racing it.
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      try {
        await run('pg_ctl', ['-D', dataDir, 'stop', '-m', 'fast', '-w', '-t', '30'], 60_000);
      } catch (err) {
        // A server that is already down is fine; anything else is worth surfacing after cleanup.
        if (fs.existsSync(path.join(dataDir, 'postmaster.pid'))) {
          fs.rmSync(dataDir, { recursive: true, force: true });
          throw new Error(`pg_ctl stop failed for ${dataDir}: ${tail(stderrOf(err))}`, { cause: err });
        }
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      log(`postgres: cluster on port ${port} stopped`);
    })();
    return stopping;
  };

  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    user: 'postgres',
    dataDir,
    stop,
    // fast: open sessions are terminated, as clients see it when a server restarts or fails over.
    pause: () => run('pg_ctl', ['-D', dataDir, 'stop', '-m', 'fast', '-w', '-t', '30'], 60_000),
    resume: async () => {
      await pgStart();
      log(`postgres: cluster on 127.0.0.1:${port} resumed`);
    },
  };
}

/** Drops (forcibly, kicking open sessions) and recreates database `name`, returning its connection URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!DB_NAME_RE.test(name)) {
    throw new Error(`invalid database name ${JSON.stringify(name)}: must match ${DB_NAME_RE}`);
  }
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    // The name is validated above; identifiers cannot be bound as query parameters.
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function chooseDataDir(
  baseDir: string,
  port: number,
  asRoot: boolean,
  log: (msg: string) => void,
): Promise<string> {
  const preferred = path.join(baseDir, `pgdata-${port}`);
  const fallback = path.join(os.tmpdir(), `freshline-pg-${port}`);
  const socketPath = (dir: string) => path.join(dir, `.s.PGSQL.${port}`);
  if (socketPath(preferred).length > MAX_SOCKET_PATH) {
    // The unix socket lives in the data dir, and a deep baseDir would overflow sun_path.
    log(`postgres: ${baseDir} is too deep for a unix socket path, using ${fallback}`);
    return fallback;
  }
  fs.mkdirSync(baseDir, { recursive: true });
  if (asRoot && !(await postgresCanTraverse(baseDir))) {
    // As root, baseDir is often under /root (mode 0700), which the postgres user cannot enter;
    // the cluster then lives in the world-traversable tmpdir instead.
    log(`postgres: user postgres cannot reach ${baseDir}, using ${fallback}`);
    return fallback;
  }
  return preferred;
}

async function postgresCanTraverse(dir: string): Promise<boolean> {
  try {
    // `test -x` on a directory fails unless every ancestor is searchable too, which is exactly the check needed.
    await execFileAsync('runuser', ['-u', 'postgres', '--', 'test', '-x', dir], { cwd: '/' });
    return true;
  } catch {
    return false;
  }
}

async function runPgTool(tool: string, args: string[], asRoot: boolean, timeoutMs: number): Promise<void> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', tool, ...args]] : [tool, args];
  // cwd '/': the postgres user may not be able to enter the caller's cwd (e.g. /root), which pg tools warn or fail on.
  await execFileAsync(file, argv, { cwd: '/', timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
}

function runPgToolSync(tool: string, args: string[], asRoot: boolean): void {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', tool, ...args]] : [tool, args];
  execFileSync(file, argv, { cwd: '/', stdio: 'ignore', timeout: 10_000 });
}

function assertPostgresUserExists(): void {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'running as root but there is no `postgres` OS user to run initdb as; ' +
        'install the Debian package (apt-get install -y postgresql) or run as a non-root user',
    );
  }
}

function chownToPostgres(dir: string): void {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  fs.chownSync(dir, uid, gid);
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: string | Buffer; message?: string };
  const stderr = e.stderr?.toString().trim();
  return stderr ? stderr : String(e.message ?? err);
}

function tail(text: string, lines = 15): string {
  return text.split('\n').slice(-lines).join('\n');
}

function readTail(file: string): string {
  try {
    return tail(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return '';
  }
}
