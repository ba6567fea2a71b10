import { spawn } from 'node:child_process';
import { ensureTemporalCli } from '../../infra/local/temporal-cli';

/** What one `temporal …` invocation did. */
export interface TemporalCliResult {
  code: number | null;
  /** Set when the CLI was still running after `timeoutMs` and was killed. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real Temporal CLI (v1.5.1, the cached build) with `args`; kills it after `timeoutMs` (a generous
 * bound so a hang fails the test instead of the suite; callers assert on the exit code and output, not time).
 */
export async function runTemporalCli(args: string[], timeoutMs = 90_000): Promise<TemporalCliResult> {
  const cli = await ensureTemporalCli();
  return new Promise((resolve, reject) => {
    const child = spawn(cli.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, stdout, stderr });
    });
  });
}
