import { Transform, type TransformCallback } from 'node:stream';

/**
 * Caps a stream at `bytesPerSecond` by delaying chunks that run ahead of the budget. Delaying the
 * COPY stream stops us reading the socket, TCP fills, and PostgreSQL's backend blocks in send(): the
 * extract then costs the source (CPU and I/O) at most the configured rate instead of all it can give.
 */
export function throttle(bytesPerSecond: number): Transform {
  const started = performance.now();
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      bytes += chunk.length;
      const aheadMs = (bytes / bytesPerSecond) * 1000 - (performance.now() - started);
      if (aheadMs <= 1) return done(null, chunk);
      setTimeout(() => done(null, chunk), aheadMs);
    },
  });
}
