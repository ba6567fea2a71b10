import { createServer } from 'node:net';
import { LanguageOptions, runServer, terminateServer, ZetaSQLClient } from '@fivetrandevelopers/zetasql-snowflake';
import type { LanguageOptionsProto } from '@fivetrandevelopers/zetasql-snowflake/lib/types/zetasql/LanguageOptionsProto';

/**
 * Fivetran's ZetaSQL Snowflake analyzer runs as a gRPC server binary shipped inside its npm package; its
 * client is a process-wide singleton, so one server serves every stand-in of a test process. It starts on
 * the first analysis; whoever uses it holds a reference (`holdAnalyzer`) and the last release kills the
 * server and closes the channel, so the test process can exit.
 */

let started: Promise<{ client: ZetaSQLClient; language: LanguageOptionsProto }> | null = null;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function start(): Promise<{ client: ZetaSQLClient; language: LanguageOptionsProto }> {
  const port = await freePort();
  // runServer's promise never settles: it only launches the binary.
  void runServer(port).catch(() => undefined);
  process.once('exit', () => stop());
  ZetaSQLClient.init(port);
  const client = ZetaSQLClient.getInstance();
  // The binary needs a moment to listen; its client reports readiness (bounded, not a timing assertion).
  for (let attempt = 0; ; attempt++) {
    try {
      if (await client.testConnection()) break;
    } catch (err) {
      if (attempt > 300)
        throw new Error(`the ZetaSQL Snowflake analyzer did not start on port ${port}`, { cause: err });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const language = (await new LanguageOptions().enableMaximumLanguageFeatures()).serialize();
  return { client, language };
}

/** The running analyzer (started once per process) and the language options every request uses. */
export function analyzer(): Promise<{ client: ZetaSQLClient; language: LanguageOptionsProto }> {
  started ??= start();
  return started;
}

let holders = 0;

function stop(): void {
  if (!started) return;
  started = null;
  try {
    terminateServer();
  } catch {
    // never started (the launch failed): nothing to kill
  }
  (ZetaSQLClient.API as unknown as { close?: () => void } | undefined)?.close?.();
}

/** Takes a reference on the analyzer; call the returned function once done with it (idempotent). */
export function holdAnalyzer(): () => void {
  holders++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) stop();
  };
}
