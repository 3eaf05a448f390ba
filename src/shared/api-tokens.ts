/** FLEETCMD_API_TOKENS: named bearer tokens and their roles. */
import { z } from 'zod';

/**
 * What an API token may do: `read` calls Describe* and List* actions only (not the audit trail), `run` every action but the
 * admin ones (activations, DeregisterNodes), `admin` every action.
 */
export type TokenRole = 'read' | 'run' | 'admin';

export interface ApiTokenConfig {
  /** Shown in logs and used as the rate limiter's key; never the token itself. */
  name: string;
  role: TokenRole;
  token: string;
}

/** The name FLEETCMD_API_TOKEN's token goes by (role run). */
export const DEFAULT_TOKEN_NAME = 'default';

const TOKEN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MIN_LISTED_TOKEN_LENGTH = 16;

/**
 * FLEETCMD_API_TOKENS: `name:role:token` entries separated by commas or white space. Messages
 * name the entry by position and name, never by its token.
 */
export const apiTokenList = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const out: ApiTokenConfig[] = [];
    const entries = text.split(/[\s,]+/).filter(Boolean);
    entries.forEach((entry, i) => {
      const [name = '', role = '', ...rest] = entry.split(':');
      const token = rest.join(':');
      // The name is shown only when the entry has all three parts: otherwise the first part
      // may be the token itself.
      const named = rest.length > 0 && TOKEN_NAME_RE.test(name);
      const where = `FLEETCMD_API_TOKENS entry ${i + 1}${named ? ` (${name})` : ''}`;
      const fail = (why: string) => ctx.addIssue({ code: 'custom', message: `${where}: ${why}` });
      if (rest.length === 0) return fail('expected name:role:token');
      if (!TOKEN_NAME_RE.test(name)) {
        return fail('the name must be 1-64 letters, digits, ".", "_" or "-"');
      }
      if (role !== 'read' && role !== 'run' && role !== 'admin') {
        return fail('the role must be read, run or admin');
      }
      if (token.length < MIN_LISTED_TOKEN_LENGTH) {
        return fail(`the token must be at least ${MIN_LISTED_TOKEN_LENGTH} characters`);
      }
      if (name === DEFAULT_TOKEN_NAME) {
        return fail(`the name ${DEFAULT_TOKEN_NAME} is FLEETCMD_API_TOKEN's`);
      }
      if (out.some((t) => t.name === name)) return fail('the name is used twice');
      if (out.some((t) => t.token === token)) return fail('the token is listed twice');
      out.push({ name, role, token });
    });
    return out;
  });
