/** The kinds of value a setting takes, each a zod schema that names the setting when it is bad. */
import { z } from 'zod';

/** A whole-number setting of at least `min` (1: "positive", 0: "0 or more"). */
export const wholeNumber = (name: string, def: number, min: 0 | 1) =>
  z
    .union([z.string(), z.number()])
    .default(String(def))
    .transform((v, ctx) => {
      const text = String(v).trim();
      const n = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
        const what = min === 1 ? 'a positive whole number' : 'a whole number (0 or more)';
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be ${what}, got ${JSON.stringify(String(v))}`,
        });
        return z.NEVER;
      }
      return n;
    });

export const positiveInt = (name: string, def: number) => wholeNumber(name, def, 1);

/** A yes/no setting: `true`, `"true"` or `"1"` is yes. */
export const bool = z
  .union([z.boolean(), z.string()])
  .default(false)
  .transform((v) => v === true || v === 'true' || v === '1');
