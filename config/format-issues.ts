import type { z } from 'zod';

// Apart from the schemas so workflow code can format its input errors without bundling every config schema.
/** Formats a zod error as one line per problem, each naming the field path, e.g. `datasets[0].cadence: …`. */
export function formatIssues(error: z.ZodError, root = ''): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
        root,
      );
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}
