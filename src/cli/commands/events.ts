/** `fleetcmd events`: the lifecycle events (GET /v1/events), held ones or followed. */
import { streamEvents } from '../event-stream.js';
import { clientArgs, CLIENT_HELP, noPositionals, parseFlags, type Parsed } from '../client-args.js';
import { line } from '../print.js';
import { UsageError } from '../usage-error.js';
import { withParsed } from '../with-parsed.js';
import { EVENT_TYPES, isEventType } from '../../domain/events.js';

export const EVENTS_HELP = `Usage: fleetcmd events [--follow] [--type T[,T...]] [--invoke-id ID] [--after EventId] [--json]

Prints the lifecycle events the server's event stream holds (oldest first), one a line: time,
type, event id, and its fields. Types: ${EVENT_TYPES.join(', ')}
(see docs/events.md).
  --follow            print the events from now on as they happen (until interrupted)
                      instead of those held
  --type T            only events of these types (comma-separated)
  --invoke-id ID      only the events of this invocation
  --after EventId     start after this event (what a line printed last showed)
  --json              each event as its JSON {"EventId","EventType","Time","Data"}, one a line
${CLIENT_HELP.split('\n').slice(1).join('\n')}

Example: fleetcmd events --follow --type RunFinished,InvocationFinished
Example: fleetcmd events --invoke-id t-ind3k9ytvvduoe8 --json`;

interface EventsArgs {
  follow: boolean;
  types?: string;
  invokeId?: string;
  after?: string;
}

export function parseEvents(argv: string[], env: NodeJS.ProcessEnv): Parsed<EventsArgs> {
  const { values, positionals } = parseFlags(argv, {
    follow: { type: 'boolean', short: 'f', default: false },
    type: { type: 'string' },
    'invoke-id': { type: 'string' },
    after: { type: 'string' },
  });
  if (values.help) return { help: EVENTS_HELP };
  noPositionals(positionals, EVENTS_HELP);
  const bad = values.type?.split(',').find((t) => !isEventType(t));
  if (bad !== undefined) {
    throw new UsageError(`--type: ${JSON.stringify(bad)} is not one of ${EVENT_TYPES.join(', ')}`);
  }
  return {
    client: clientArgs(values, env),
    follow: values.follow,
    types: values.type,
    invokeId: values['invoke-id'],
    after: values.after,
  };
}

/** `Data`'s fields as `Name=value` (objects as JSON). */
function fieldsText(data: unknown): string {
  if (typeof data !== 'object' || data === null) return '';
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function eventsCli(argv: string[]): Promise<number> {
  return withParsed(parseEvents(argv, process.env), async (p) => {
    // Held events from the start; followed ones from now on (or after --after either way).
    const query = new URLSearchParams({ follow: String(p.follow) });
    const after = p.after ?? (p.follow ? undefined : '0');
    if (after !== undefined) query.set('after', after);
    if (p.types !== undefined) query.set('type', p.types);
    if (p.invokeId !== undefined) query.set('InvokeId', p.invokeId);
    for await (const e of streamEvents(p.client, query)) {
      if (p.client.json) {
        line(e.data);
        continue;
      }
      const ev = JSON.parse(e.data) as { Time?: string; Data?: unknown };
      line(
        `${ev.Time ?? ''}  ${(e.event ?? '').padEnd(18)}  ${e.id ?? ''}  ${fieldsText(ev.Data)}`,
      );
    }
    return 0;
  });
}
