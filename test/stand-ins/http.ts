import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Adapts an async request handler to node:http's listener (which ignores the promise): a handler that
 * throws answers 500 with the error instead of leaving an unhandled rejection and a hanging client.
 */
export function asyncHandler(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`stand-in error: ${(err as Error).message}`);
    });
  };
}
