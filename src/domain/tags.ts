/**
 * Node tags: `Key` 1-128 characters, `Value` 0-128, keys unique per node, at most MAX_NODE_TAGS
 * of them. Pure: the rules the API, the agent's flags and the store share.
 */

/** The most tags one node carries (agent-reported and API-set together). */
export const MAX_NODE_TAGS = 20;
export const MAX_TAG_KEY_CHARS = 128;
export const MAX_TAG_VALUE_CHARS = 128;

export interface Tag {
  key: string;
  value: string;
}

/** A tag target's pair: without a value it matches any value of the key. */
export interface TagMatch {
  key: string;
  value?: string;
}

/** A tag that breaks the rules: the message names what, without the field (callers add it). */
export class TagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TagError';
  }
}

/** Characters a key or value may not hold: control characters (NUL, newline...) only. */
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Length in characters (code points), as the vendor counts them. */
const chars = (s: string) => [...s].length;

/** The key's problem, or undefined. */
export function tagKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'a tag key must not be empty';
  if (chars(key) > MAX_TAG_KEY_CHARS) {
    return `tag key ${JSON.stringify(key.slice(0, 20))}... is longer than ${MAX_TAG_KEY_CHARS} characters`;
  }
  if (CONTROL_RE.test(key)) return `tag key ${JSON.stringify(key)} holds a control character`;
  return undefined;
}

/** The value's problem, or undefined. */
export function tagValueProblem(key: string, value: string): string | undefined {
  if (chars(value) > MAX_TAG_VALUE_CHARS) {
    return `the value of tag ${JSON.stringify(key)} is longer than ${MAX_TAG_VALUE_CHARS} characters`;
  }
  if (CONTROL_RE.test(value)) {
    return `the value of tag ${JSON.stringify(key)} holds a control character`;
  }
  return undefined;
}

/** Throws a TagError unless the tags are valid and their keys unique (count not checked). */
export function checkTags(tags: readonly Tag[]): void {
  const seen = new Set<string>();
  for (const t of tags) {
    const problem = tagKeyProblem(t.key) ?? tagValueProblem(t.key, t.value);
    if (problem !== undefined) throw new TagError(problem);
    if (seen.has(t.key)) throw new TagError(`tag key ${JSON.stringify(t.key)} is given twice`);
    seen.add(t.key);
  }
}

/** Throws a TagError when there are more than MAX_NODE_TAGS of them. */
export function checkTagCount(count: number): void {
  if (count > MAX_NODE_TAGS) {
    throw new TagError(`a node carries at most ${MAX_NODE_TAGS} tags (this would make ${count})`);
  }
}

/**
 * `key=value` as the CLI and FLEETCMD_NODE_TAGS write a tag (the first '=' splits; a value may
 * be empty). `key` alone is a key with an empty value when `bareKey` is 'empty', or a match of
 * any value when it is 'any'.
 */
export function parseTagPair(text: string, bareKey: 'empty' | 'any' | 'refuse'): TagMatch {
  const eq = text.indexOf('=');
  if (eq < 0) {
    if (bareKey === 'refuse') throw new TagError(`${JSON.stringify(text)} is not key=value`);
    const problem = tagKeyProblem(text);
    if (problem !== undefined) throw new TagError(problem);
    return bareKey === 'empty' ? { key: text, value: '' } : { key: text };
  }
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const problem = tagKeyProblem(key) ?? tagValueProblem(key, value);
  if (problem !== undefined) throw new TagError(problem);
  return { key, value };
}

/** `k=v,k2=v2` (commas separate pairs; blanks around them ignored) as tags, checked. */
export function parseTagList(text: string): Tag[] {
  const tags = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => parseTagPair(s, 'empty') as Tag);
  checkTags(tags);
  checkTagCount(tags.length);
  return tags;
}

/** Tags in key order, as stored and shown. */
export function sortTags<T extends { key: string }>(tags: readonly T[]): T[] {
  return [...tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The tags an agent reported in its registration (JSON `[["k","v"],...]`), checked: the agent
 * may write anything there, so anything else is refused (undefined).
 */
export function reportedTagsOf(raw: string | undefined): Tag[] | undefined {
  if (raw === undefined || raw === '') return [];
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length > MAX_NODE_TAGS) return undefined;
  const tags: Tag[] = [];
  for (const item of v) {
    if (!Array.isArray(item) || item.length !== 2) return undefined;
    const [key, value] = item as unknown[];
    if (typeof key !== 'string' || typeof value !== 'string') return undefined;
    tags.push({ key, value });
  }
  try {
    checkTags(tags);
  } catch {
    return undefined;
  }
  return tags;
}

/** The registration field's text for these tags (see reportedTagsOf). */
export function reportedTagsText(tags: readonly Tag[]): string {
  return JSON.stringify(tags.map((t) => [t.key, t.value]));
}
