/**
 * Command parameters (SPEC §4): with EnableParameter, `{{name}}` in a command's content is
 * replaced by the value passed in Parameters, and the built-ins `{{ACS::InvokeId}}`,
 * `{{ACS::NodeId}}` (alias `{{ACS::InstanceId}}`) and `{{ACS::CommandId}}` by the run's own ids.
 * Pure: content is bytes (it may be any encoding), and every byte outside a reference is kept.
 */

/** Most distinct custom names one content may refer to. */
export const MAX_PARAMETER_NAMES = 20;

/** Most values one request may pass (Parameters). */
export const MAX_PARAMETER_VALUES = 10;

const NAME_RE = /^[A-Za-z0-9_-]+$/;
const BUILTIN_PREFIX = 'acs::';

/**
 * A reference: `{{`, optional ASCII whitespace, a name (optionally `ACS::`-prefixed), optional
 * whitespace, `}}`. Matched against the content's latin1 view, where one character is one byte,
 * so match offsets are byte offsets and a multi-byte character can never take part in a match.
 */
const REF_RE = /\{\{[ \t\n\r\f\v]*((?:ACS::)?[A-Za-z0-9_-]+)[ \t\n\r\f\v]*\}\}/gi;

/** Built-in names (lower case, without `ACS::`) and which id each stands for. */
const BUILTINS: Readonly<Record<string, keyof Builtins>> = {
  invokeid: 'invokeId',
  nodeid: 'nodeId',
  instanceid: 'nodeId',
  commandid: 'commandId',
};

/** The values of the built-ins for one node's run. */
export interface Builtins {
  invokeId: string;
  nodeId: string;
  /** '' for a RunCommand invocation. */
  commandId: string;
}

/** A bad template or value; `field` is the request field at fault. */
export class ParameterError extends Error {
  constructor(
    readonly field: 'CommandContent' | 'Parameters',
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ParameterError';
  }
}

interface Reference {
  start: number;
  end: number;
  /** As written, without surrounding whitespace. */
  name: string;
  /** Which built-in it names; undefined for a custom name. */
  builtin: keyof Builtins | undefined;
}

function* references(content: Buffer): Generator<Reference> {
  for (const m of content.toString('latin1').matchAll(REF_RE)) {
    const name = m[1] ?? '';
    const lower = name.toLowerCase();
    let builtin: keyof Builtins | undefined;
    if (lower.startsWith(BUILTIN_PREFIX)) {
      builtin = BUILTINS[lower.slice(BUILTIN_PREFIX.length)];
      if (builtin === undefined) {
        throw new ParameterError(
          'CommandContent',
          `{{${name}}} is not a built-in parameter (built-ins: ACS::InvokeId, ACS::NodeId, ACS::InstanceId, ACS::CommandId; custom names may not start with ACS::)`,
        );
      }
    }
    yield { start: m.index, end: m.index + m[0].length, name, builtin };
  }
}

/**
 * The custom parameter names a content refers to, each once (names are case-insensitive: the
 * first spelling is kept), in order of first use. Throws a ParameterError for an unknown
 * `ACS::` name or for more than MAX_PARAMETER_NAMES names.
 */
export function parameterNames(content: Buffer): string[] {
  const names = new Map<string, string>();
  for (const ref of references(content)) {
    if (ref.builtin === undefined && !names.has(ref.name.toLowerCase())) {
      names.set(ref.name.toLowerCase(), ref.name);
    }
  }
  if (names.size > MAX_PARAMETER_NAMES) {
    throw new ParameterError(
      'CommandContent',
      `refers to ${names.size} custom parameters; at most ${MAX_PARAMETER_NAMES} are allowed`,
    );
  }
  return [...names.values()];
}

/**
 * Checks passed values: at most MAX_PARAMETER_VALUES, each named like a parameter, none
 * `ACS::`-prefixed, no two names equal but for case. Values the content does not refer to are
 * allowed (and ignored), as the vendor does.
 */
export function checkValues(values: Readonly<Record<string, string>>): void {
  const names = Object.keys(values);
  if (names.length > MAX_PARAMETER_VALUES) {
    throw new ParameterError(
      'Parameters',
      `holds ${names.length} values; at most ${MAX_PARAMETER_VALUES} are allowed`,
    );
  }
  const seen = new Map<string, string>();
  for (const name of names) {
    if (name.toLowerCase().startsWith(BUILTIN_PREFIX)) {
      throw new ParameterError(
        'Parameters',
        `${JSON.stringify(name)}: custom parameter names may not start with ACS::`,
      );
    }
    if (!NAME_RE.test(name)) {
      throw new ParameterError(
        'Parameters',
        `${JSON.stringify(name)} is not a valid parameter name (letters, digits, _ and - only)`,
      );
    }
    const other = seen.get(name.toLowerCase());
    if (other !== undefined) {
      throw new ParameterError(
        'Parameters',
        `${JSON.stringify(other)} and ${JSON.stringify(name)} name the same parameter (names are case-insensitive)`,
      );
    }
    seen.set(name.toLowerCase(), name);
  }
}

/**
 * The content with every reference replaced (values as UTF-8), every other byte kept as it
 * was. Throws a ParameterError naming the first custom names that have no value.
 */
export function substitute(
  content: Buffer,
  values: Readonly<Record<string, string>>,
  builtins: Builtins,
): Buffer {
  checkValues(values);
  parameterNames(content);
  const byName = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  const parts: Buffer[] = [];
  const missing = new Map<string, string>();
  let at = 0;
  for (const ref of references(content)) {
    const value =
      ref.builtin !== undefined ? builtins[ref.builtin] : byName.get(ref.name.toLowerCase());
    if (value === undefined) {
      if (!missing.has(ref.name.toLowerCase())) missing.set(ref.name.toLowerCase(), ref.name);
      continue;
    }
    parts.push(content.subarray(at, ref.start), Buffer.from(value, 'utf8'));
    at = ref.end;
  }
  if (missing.size > 0) {
    const names = [...missing.values()].slice(0, 3).map((n) => JSON.stringify(n));
    throw new ParameterError(
      'Parameters',
      `no value for parameter ${names.join(', ')} used in CommandContent`,
    );
  }
  parts.push(content.subarray(at));
  return Buffer.concat(parts);
}
