import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** What the worker child needs: where to poll, where its DuckDB file and stage live, and its secrets. */
export interface WorkerChildOptions {
  temporalAddress: string;
  taskQueue: string;
  dataDir: string;
  bundlePath: string;
  secrets: Record<string, string>;
  /** chunkRows per source table, e.g. { orders: 150 }. */
  chunkRows?: Record<string, number>;
  /**
   * Keep the next process started and connected (modules loaded), so a restart costs only opening the
   * DuckDB file and creating the workers; without it every start is a cold `node` start.
   */
  standby?: boolean;
  /** Top-level config sections replacing the shipped ones (FRESHLINE_TEST_CONFIG), e.g. warehouse and stage. */
  config?: Record<string, unknown>;
}

/** One step start the child reported (deps.beforeStep). */
export interface StepLine {
  step: string;
  attempt: number;
  activityId: string;
  /** The workflow whose activity it is. */
  workflowId: string;
  /** Which process (1 = first start) reported it. */
  generation: number;
}

const ENTRY = resolve(__dirname, 'worker-process.ts');

interface Proc {
  proc: ChildProcess;
  exited: Promise<number | null>;
  /** Resolves on `@@standby` (connected, waiting for go). */
  standing: Promise<void>;
  /** Resolves on `@@ready` (polling). */
  ready: Promise<void>;
  generation: number;
}

/**
 * A Freshline worker in a child process (test/support/worker-process.ts) that a test can SIGKILL and
 * start again on the same DuckDB file. Every step start it reports reaches `onStep` listeners.
 */
export class WorkerChild {
  private current: Proc | null = null;
  private next: Proc | null = null;
  private spawned = 0;
  private readonly listeners = new Set<(line: StepLine) => void>();
  /** Generation of the process that polls now (1 = first start). */
  generation = 0;
  /** Wall-clock ms each start took until the worker polled. */
  readonly startMs: number[] = [];

  constructor(private readonly opts: WorkerChildOptions) {}

  get pid(): number | undefined {
    return this.current?.proc.pid;
  }

  onStep(fn: (line: StepLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private spawnProc(): Proc {
    const slot = ++this.spawned;
    const proc = spawn(process.execPath, ['--require', 'tsx/cjs', ENTRY], {
      cwd: resolve(__dirname, '../..'),
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...this.opts.secrets,
        TEMPORAL_ADDRESS: this.opts.temporalAddress,
        FRESHLINE_TASK_QUEUE: this.opts.taskQueue,
        FRESHLINE_DATA_DIR: this.opts.dataDir,
        FRESHLINE_WORKFLOW_BUNDLE: this.opts.bundlePath,
        FRESHLINE_TEST_CHUNK_ROWS: JSON.stringify(this.opts.chunkRows ?? {}),
        FRESHLINE_TEST_STANDBY: '1',
        ...(this.opts.config ? { FRESHLINE_TEST_CONFIG: JSON.stringify(this.opts.config) } : {}),
      },
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
    const died = exited.then((code) => {
      throw new Error(`worker child ${slot} exited (${code}) before it polled:\n${stderr}`);
    });
    died.catch(() => undefined);
    let standing!: () => void;
    let ready!: () => void;
    const p: Proc = {
      proc,
      exited,
      generation: 0,
      standing: Promise.race([new Promise<void>((r) => (standing = r)), died]),
      ready: Promise.race([new Promise<void>((r) => (ready = r)), died]),
    };
    p.standing.catch(() => undefined);
    p.ready.catch(() => undefined);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('@@standby')) return standing();
      if (line.startsWith('@@ready')) return ready();
      const m = /^@@step (\S+) (\d+) (\S+) (\S+)$/.exec(line);
      if (m)
        for (const fn of this.listeners)
          fn({ step: m[1], attempt: Number(m[2]), activityId: m[3], workflowId: m[4], generation: p.generation });
    });
    return p;
  }

  /** Starts a process (the standby if there is one) and resolves once its workers poll. */
  async start(): Promise<void> {
    if (this.current) throw new Error('worker child already running');
    const t0 = Date.now();
    const p = this.next ?? this.spawnProc();
    this.next = null;
    await p.standing;
    p.generation = ++this.generation;
    this.current = p;
    void p.exited.then(() => {
      if (this.current === p) this.current = null;
    });
    p.proc.stdin!.write('go\n');
    await p.ready;
    this.startMs.push(Date.now() - t0);
    if (this.opts.standby) this.next = this.spawnProc();
  }

  /** kill -9: no shutdown, no flush; in-flight activities are abandoned mid-statement. */
  async kill(): Promise<void> {
    const p = this.current;
    if (!p) return;
    p.proc.kill('SIGKILL');
    await p.exited;
  }

  /** Graceful stop (SIGTERM: the SDK drains), SIGKILL after `graceMs`; the standby goes too. */
  async stop(graceMs = 15_000): Promise<void> {
    await this.dropStandby();
    const p = this.current;
    if (!p) return;
    p.proc.kill('SIGTERM');
    const timer = setTimeout(() => p.proc.kill('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  /** Kills everything this started (after a failed test). */
  async killAll(): Promise<void> {
    await this.dropStandby();
    await this.kill();
  }

  private async dropStandby(): Promise<void> {
    const s = this.next;
    this.next = null;
    if (!s) return;
    s.proc.kill('SIGKILL');
    await s.exited;
  }
}
