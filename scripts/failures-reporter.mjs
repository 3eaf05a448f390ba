// A node:test reporter that prints only what failed (file, test name, first lines of the error),
// after the run: the TAP stream is long, and a CI log that keeps only its tail must still name
// the failing test. scripts/run-tests.mjs prints what this writes after the run ends.
export default async function* failuresReporter(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, line, details } = event.data;
    const error = details?.error;
    // A suite fails when one of its tests fails; the test itself is already listed.
    if (error?.failureType === 'subtestsFailed') continue;
    const cause = error?.cause ?? error;
    const message = String(cause?.stack ?? cause?.message ?? cause ?? 'no error given')
      .split('\n')
      .slice(0, 12)
      .join('\n    ');
    failed.push(`✖ ${file ?? '?'}:${line ?? '?'} ${name}\n    ${message}`);
  }
  yield failed.length === 0 ? '' : `\n${failed.length} failing test(s):\n${failed.join('\n')}\n`;
}
