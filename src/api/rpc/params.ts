/**
 * RPC-style parameters (every value a text, lists flattened as `Name.1`, `Name.2`, ..., maps as
 * JSON text) turned into the JSON body the actions parse, field by field per the kind the
 * action's schema gives it. Pure: the caller supplies the kinds.
 */

import { jsonKeyProblem } from '../../domain/json-keys.js';

/** How a field travels in the RPC style. `text` also covers booleans ("true"/"false"). */
export type FieldKind = 'text' | 'number' | 'list' | 'map';

/** A bad parameter: the message names it. */
export class RpcParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcParamError';
  }
}

/** Most items a flattened list may hold (NodeIdList takes up to 1000). */
export const MAX_LIST_ITEMS = 1000;

/** `N` (an item) or `N.Name` (a field of an object item, as in `Tag.1.Key`). */
const INDEX_RE = /^([1-9]\d{0,3})(?:\.([A-Za-z][A-Za-z0-9]{0,63}))?$/;
const INTEGER_RE = /^-?\d{1,15}$/;

/** A flattened list's items by N: texts, or objects built from `N.Name` fields. */
type ListItems = Map<number, string | Record<string, string>>;

/** Adds `Field.N` or `Field.N.Name` to its list; throws on a bad or mixed form. */
function addItem(lists: Map<string, ListItems>, key: string, field: string, value: string) {
  const m = INDEX_RE.exec(key.slice(field.length + 1));
  const n = Number(m?.[1]);
  if (!m || n > MAX_LIST_ITEMS) {
    throw new RpcParamError(
      `${key}: list items are numbered ${field}.1 to ${field}.${MAX_LIST_ITEMS} (or ${field}.N.Name)`,
    );
  }
  const items: ListItems = lists.get(field) ?? new Map();
  lists.set(field, items);
  const name = m[2];
  const item = items.get(n);
  if (name === undefined) {
    if (item !== undefined) throw new RpcParamError(`${key}: given both whole and by field`);
    items.set(n, value);
    return;
  }
  if (typeof item === 'string') throw new RpcParamError(`${key}: given both whole and by field`);
  const obj = item ?? (Object.create(null) as Record<string, string>);
  obj[name] = value;
  items.set(n, obj);
}

/**
 * Groups flat parameters by field: `Name` and `Name.N` are the same field, and `Name.N.Sub`
 * makes item N an object. Order within a list follows N, which must run 1..count without gaps.
 */
export function unflatten(
  params: ReadonlyMap<string, string>,
  kindOf: (field: string) => FieldKind,
): Record<string, unknown> {
  const scalars = new Map<string, string>();
  const lists = new Map<string, ListItems>();
  for (const [key, value] of params) {
    const dot = key.indexOf('.');
    if (dot < 0) {
      scalars.set(key, value);
      continue;
    }
    const field = key.slice(0, dot);
    if (kindOf(field) !== 'list') {
      throw new RpcParamError(`${key}: ${field} is not a list, so it takes no ".N" suffix`);
    }
    addItem(lists, key, field, value);
  }

  const body: Record<string, unknown> = {};
  for (const [field, value] of scalars) {
    const kind = kindOf(field);
    if (kind === 'list') {
      if (lists.has(field)) throw new RpcParamError(`${field}: given both whole and as ${field}.N`);
      body[field] = jsonOf(field, value, 'list');
    } else if (kind === 'map') {
      body[field] = jsonOf(field, value, 'map');
    } else if (kind === 'number') {
      if (!INTEGER_RE.test(value.trim())) {
        throw new RpcParamError(`${field}: must be a whole number, got ${JSON.stringify(value)}`);
      }
      body[field] = Number(value.trim());
    } else {
      body[field] = value;
    }
  }
  for (const [field, items] of lists) {
    const list: unknown[] = [];
    for (let i = 1; i <= items.size; i++) {
      const item = items.get(i);
      if (item === undefined) {
        throw new RpcParamError(
          `${field}.${i}: is missing (list items are numbered from 1 without gaps)`,
        );
      }
      list.push(typeof item === 'string' ? item : { ...item });
    }
    body[field] = list;
  }
  return body;
}

/** A list or map given as JSON text (`["a","b"]`, `{"k":"v"}`). */
function jsonOf(field: string, text: string, kind: 'list' | 'map'): unknown {
  const wrong = new RpcParamError(
    kind === 'map'
      ? `${field}: must be a JSON object as text, such as {"name":"value"}`
      : `${field}: must be flattened as ${field}.1, ${field}.2, ... (or a JSON array as text)`,
  );
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw wrong;
  }
  const isObject = typeof v === 'object' && v !== null && !Array.isArray(v);
  if (kind === 'list' ? !Array.isArray(v) : !isObject) throw wrong;
  // JSON.parse keeps the last of a key given twice: refused rather than guessed at.
  const problem = jsonKeyProblem(text);
  if (problem !== undefined) throw new RpcParamError(`${field}: ${problem}`);
  return v;
}

/**
 * Parses `a=1&b=2` (query string or form body): decoded pairs in order; `+` is a space. Throws
 * on a malformed escape or an empty name.
 */
export function parseUrlEncoded(text: string, where: string): [string, string][] {
  const out: [string, string][] = [];
  if (text === '') return out;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      throw new RpcParamError(`${where}: ${JSON.stringify(rawKey)} is not valid percent-encoding`);
    }
    if (key === '') throw new RpcParamError(`${where}: a parameter has no name`);
    out.push([key, value]);
  }
  return out;
}
