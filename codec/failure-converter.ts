import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces travel as an encoded payload (message "Encoded failure" in the clear), so
 * the payload codec encrypts them like any other payload. Bundled into the workflow code too: workflow-safe.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
