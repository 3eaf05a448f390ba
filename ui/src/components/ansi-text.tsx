import Anser from 'anser';
import { headCut, OUTPUT_LIMIT_BYTES } from '../../../src/domain/utf8-cut.js';
import { base64Bytes, utf8 } from '../api';

/**
 * Text with ANSI colour codes, parsed by anser into runs: each run is a text node in a span
 * whose classes name its colours (styles.css). Nothing of the text is ever read as markup, and
 * escape sequences other than colours are dropped by the parser.
 */
export function AnsiText({ text }: { text: string }) {
  const runs = Anser.ansiToJson(text, { use_classes: true, remove_empty: true });
  return (
    <>
      {runs.map((r, i) => {
        const cls = [
          r.fg && `${r.fg}-fg`,
          r.bg && `${r.bg}-bg`,
          r.decoration && `ansi-${r.decoration}`,
        ]
          .filter(Boolean)
          .join(' ');
        return cls ? (
          <span key={i} class={cls}>
            {r.content}
          </span>
        ) : (
          r.content
        );
      })}
    </>
  );
}

/**
 * One run's capped output (Base64 as the API sends it): the kept beginning, a marker standing
 * for the `dropped` bytes the API left out, then the kept end, cut where the server cut it
 * (the same headCut the CLI uses).
 */
export function Output({ base64, dropped }: { base64: string; dropped: number }) {
  const bytes = base64Bytes(base64);
  if (dropped === 0) {
    return (
      <pre class="output" data-testid="output">
        <AnsiText text={utf8(bytes)} />
      </pre>
    );
  }
  const seam = headCut(bytes.subarray(0, Math.min(OUTPUT_LIMIT_BYTES / 2, bytes.length)));
  return (
    <pre class="output" data-testid="output">
      <AnsiText text={utf8(bytes.subarray(0, seam))} />
      <span class="dropped">{`\n… ${dropped} bytes dropped …\n`}</span>
      <AnsiText text={utf8(bytes.subarray(seam))} />
    </pre>
  );
}
