import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';

const MODULE = 'github.com/temporalio/cli/cmd/temporal';
// Same flags as upstream's goreleaser build, so `temporal --version` reports 1.5.1 instead of 0.0.0-DEV
// and the binary is stripped; CGO off because the CLI's SQLite driver is pure Go and no C compiler is needed.
const LDFLAGS = `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION.slice(1)}`;
const LOCK_STALE_MS = 20 * 60 * 1000;
const LOCK_POLL_MS = 2_000;
const HEARTBEAT_MS = 30_000;
const FALLBACK_GO = '/usr/local/go/bin/go';

export interface TemporalCli {
  path: string;
  source: 'path' | 'cache' | 'built';
  buildSeconds?: number;
}

/** Finds the Temporal CLI: `temporal` on PATH, else the cached build, else builds it with `go install`. */
export async function ensureTemporalCli(log: (msg: string) => void = () => {}): Promise<TemporalCli> {
  const onPath = which('temporal');
  if (onPath) return { path: onPath, source: 'path' };

  const cache = cacheDir();
  const target = path.join(cache, 'bin', 'temporal');
  if (isExecutableFile(target)) return { path: target, source: 'cache' };

  fs.mkdirSync(path.join(cache, 'bin'), { recursive: true });
  const release = await acquireLock(path.join(cache, 'build.lock'), log);
  try {
    // Whoever held the lock before us has probably just built it.
    if (isExecutableFile(target)) return { path: target, source: 'cache' };
    const started = Date.now();
    await buildCli(cache, target, log);
    const buildSeconds = Math.round((Date.now() - started) / 100) / 10;
    log(`Temporal CLI ${TEMPORAL_CLI_VERSION} built in ${buildSeconds}s: ${target}`);
    return { path: target, source: 'built', buildSeconds };
  } finally {
    release();
  }
}

/** Returns the directory that holds the built CLI and its build lock/log. */
export function cacheDir(): string {
  return process.env.FRESHLINE_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'freshline');
}

/** Returns the first executable `name` on process.env.PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function buildCli(cache: string, target: string, log: (msg: string) => void): Promise<void> {
  const go = which('go') ?? (isExecutableFile(FALLBACK_GO) ? FALLBACK_GO : undefined);
  if (!go) {
    throw new Error(
      `Go is needed once to build the Temporal CLI ${TEMPORAL_CLI_VERSION} (no \`temporal\` on PATH or at ${target}). ` +
        `Install Go >= 1.25 (https://go.dev/dl, unpacked to /usr/local/go) or put a \`temporal\` binary on PATH.`,
    );
  }
  // go install copies into GOBIN non-atomically; building into a private dir and renaming means a
  // concurrent reader that skips the lock never sees a half-written binary at `target`.
  const staging = fs.mkdtempSync(path.join(cache, 'bin', '.staging-'));
  const buildLog = path.join(cache, 'build.log');
  log(
    `building Temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy (first run only, ~3-6 min); log: ${buildLog}`,
  );
  try {
    await runGo(go, ['install', '-ldflags', LDFLAGS, `${MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: staging, CGO_ENABLED: '0' },
      cwd: cache,
      buildLog,
      log,
    });
    fs.renameSync(path.join(staging, 'temporal'), target);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function runGo(
  go: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd: string; buildLog: string; log: (msg: string) => void },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const out = fs.createWriteStream(opts.buildLog);
    out.write(`$ ${go} ${args.join(' ')}\n`);
    const child = spawn(go, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let recent: string[] = [];
    const keep = (chunk: Buffer) => {
      out.write(chunk);
      recent = recent.concat(chunk.toString().split('\n').filter(Boolean)).slice(-30);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const started = Date.now();
    // go prints nothing while compiling, so without a heartbeat a first run looks hung.
    const heartbeat = setInterval(() => {
      opts.log(`still building Temporal CLI (${Math.round((Date.now() - started) / 1000)}s elapsed)`);
    }, HEARTBEAT_MS);
    const finish = (err?: Error) => {
      clearInterval(heartbeat);
      out.end(() => (err ? reject(err) : resolve()));
    };
    child.once('error', (err) => finish(new Error(`could not run ${go}: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) return finish();
      finish(
        new Error(
          `go install ${MODULE}@${TEMPORAL_CLI_VERSION} failed (${signal ?? `exit ${code}`}); ` +
            `full log: ${opts.buildLog}\n${recent.slice(-20).join('\n')}`,
        ),
      );
    });
  });
}

async function acquireLock(lockPath: string, log: (msg: string) => void): Promise<() => void> {
  let announced = false;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o644);
      fs.writeSync(fd, `${process.pid}\n${new Date().toISOString()}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (isStale(lockPath)) {
      log(`removing stale Temporal CLI build lock ${lockPath}`);
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      log(`another process is building the Temporal CLI (lock ${lockPath}); waiting for it`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
}

function isStale(lockPath: string): boolean {
  let stat: fs.Stats;
  let holder: number;
  try {
    stat = fs.statSync(lockPath);
    holder = Number(fs.readFileSync(lockPath, 'utf8').split('\n')[0]);
  } catch {
    // Vanished between open and stat: not stale, just retry the open.
    return false;
  }
  if (Date.now() - stat.mtimeMs > LOCK_STALE_MS) return true;
  // A holder that died (crash, Ctrl-C) would otherwise block everyone for 20 minutes.
  return Number.isInteger(holder) && holder > 0 && !isAlive(holder);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
