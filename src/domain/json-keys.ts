/**
 * What JSON.parse cannot say: whether an object in the text gives a key twice (JSON.parse keeps
 * the last value, so `{"CommandContent":"a","CommandContent":"b"}` would mean whatever the
 * last one says, while a proxy or log reader may see the first). Pure; one pass over the text.
 */

/** Deepest nesting of objects and arrays a request body may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * A problem with the keys of `text`, which must already be valid JSON (JSON.parse succeeded):
 * `duplicate key "X"` for the first key given twice in one object, at any depth and however it
 * is escaped, or `nested deeper than 64 levels`; undefined when there is none. Linear in the
 * text's length: each key is decoded once and looked up in its object's set.
 */
export function jsonKeyProblem(text: string): string | undefined {
  // One entry per open object (its keys so far) or array (null).
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const top = open[open.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.has(key)) return `duplicate key ${JSON.stringify(key)}`;
        top.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      if (open.length === MAX_JSON_DEPTH) return `nested deeper than ${MAX_JSON_DEPTH} levels`;
      open.push(c === '{' ? new Set() : null);
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      expectKey = open[open.length - 1] != null;
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let j = start + 1;
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
  return j;
}
