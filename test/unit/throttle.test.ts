import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throttle } from '../../activities/sources/postgres/throttle';

test('a throttled stream delivers every byte in order and no faster than the cap', async () => {
  const chunks = Array.from({ length: 32 }, (_, i) => Buffer.alloc(64 * 1024, i)); // 2 MiB
  const received: Buffer[] = [];
  const started = performance.now();
  await pipeline(Readable.from(chunks), throttle(4 * 1024 * 1024), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) received.push(chunk);
  });
  const seconds = (performance.now() - started) / 1000;
  expect(Buffer.concat(received).equals(Buffer.concat(chunks))).toBe(true);
  expect(seconds).toBeGreaterThanOrEqual(0.45); // 2 MiB at 4 MiB/s: at least half a second
});
