// A node:test reporter that records only what failed (file, test name, first lines of the error)
// in the file FLEETCMD_TEST_FAILURES names, each failure as it happens (synchronously: a runner
// that exits early leaves no failure unwritten). The TAP stream is long, and a CI log that keeps only its tail must still name the
// failing test: scripts/run-tests.mjs prints the file after the run.
import { appendFileSync } from 'node:fs';

export default async function* failuresReporter(source) {
  const into = process.env.FLEETCMD_TEST_FAILURES;
  for await (const event of source) {
    if (event.type !== 'test:fail' || !into) continue;
    const { name, file, line, details } = event.data;
    const error = details?.error;
    // A suite fails when one of its tests fails; the test itself is already listed.
    if (error?.failureType === 'subtestsFailed') continue;
    const cause = error?.cause ?? error;
    const message = String(cause?.stack ?? cause?.message ?? cause ?? 'no error given')
      .split('\n')
      .slice(0, 12)
      .join('\n    ');
    appendFileSync(into, `✖ ${file ?? '?'}:${line ?? '?'} ${name}\n    ${message}\n`);
  }
  yield '';
}
