/** `fleetcmd audit`: the audit trail (DescribeAuditEvents), once or followed. */
import type { ApiClient } from '../api-client.js';
import {
  clientArgs,
  CLIENT_HELP,
  given,
  noPositionals,
  parseFlags,
  wholeNumber,
  type ClientArgs,
  type Parsed,
} from '../client-args.js';
import { orDash, renderTable } from '../format.js';
import { pages } from '../pages.js';
import { json, line } from '../print.js';
import { sleep } from '../wait.js';
import { withParsed } from '../with-parsed.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type { AuditEventView, DescribeAuditEventsAnswer } from '../../api/schemas/audit.js';

export const AUDIT_HELP = `Usage: fleetcmd audit [--action A] [--actor X] [--since TIME] [--max N] [--follow]

Prints the audit trail: who changed what (API token name, AccessKey ID, or cli:user@host),
from where, with which result; newest first. Events name targets and hash contents and
parameter values: they never hold them. Needs a token of the role run.
  --action A          only this action (RunCommand, StopInvocation, AddNode, ...)
  --actor X           only this actor
  --since TIME        only events at or after TIME (UTC ISO-8601, 2024-01-02T03:04:05Z)
  --until TIME        only events at or before TIME
  --max N             at most N events (default 50; 1-10000)
  --follow            print the latest events oldest first, then each new one as it is
                      recorded (polls, slower while nothing happens) until interrupted;
                      with --json one event per line
${CLIENT_HELP}

Example: fleetcmd audit --action RunCommand --max 20
Example: fleetcmd audit --follow --json`;

interface AuditArgs {
  filters: Record<string, unknown>;
  max: number;
  follow: boolean;
}

export function parseAudit(argv: string[], env: NodeJS.ProcessEnv): Parsed<AuditArgs> {
  const { values, positionals } = parseFlags(argv, {
    action: { type: 'string' },
    actor: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    max: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
  });
  if (values.help) return { help: AUDIT_HELP };
  noPositionals(positionals, AUDIT_HELP);
  return {
    client: clientArgs(values, env),
    filters: given({
      Action: values.action,
      Actor: values.actor,
      StartTime: values.since,
      EndTime: values.until,
    }),
    max: wholeNumber('max', values.max, 1, 10_000) ?? 50,
    follow: values.follow,
  };
}

/** What an event acted on: its nodes (and how many), its tag target, or its key. */
function target(e: AuditEventView): string {
  if (e.NodeIds !== undefined) {
    const more = (e.NodeCount ?? 0) - e.NodeIds.length;
    return `${e.NodeIds.join(',')}${more > 0 ? ` (+${more})` : ''}`;
  }
  if (e.ResourceTag !== undefined) {
    return e.ResourceTag.map((t) => (t.Value === undefined ? t.Key : `${t.Key}=${t.Value}`)).join(
      ',',
    );
  }
  return orDash(e.AccessKeyId);
}

const cells = (e: AuditEventView): string[] => [
  e.Time,
  orDash(e.Actor),
  orDash(e.SourceIp || e.Interface),
  e.Action,
  e.ResultCode,
  target(e),
  orDash(e.InvokeId ?? e.CommandId),
];

/** Stream ids (`<ms>-<seq>`) in order. */
function newer(a: string, b: string): boolean {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am > bm || (am === bm && as > bs);
}

/** --follow's first wait, and its longest while nothing happens (ms). */
const POLL_MS = 500;
const MAX_POLL_MS = 5_000;

/** --follow: the latest events, then every newer one, oldest first, until interrupted. */
async function follow(api: ApiClient, client: ClientArgs, args: AuditArgs): Promise<number> {
  const read = (max: number, since?: string) =>
    pages<DescribeAuditEventsAnswer, AuditEventView>(
      api,
      { ...client, json: false },
      'DescribeAuditEvents',
      { ...args.filters, ...(since !== undefined ? { StartTime: since } : {}) },
      (a) => ({ rows: a.AuditEvents.AuditEvent, next: a.NextToken }),
      max,
    );
  const show = (events: AuditEventView[]) => {
    for (const e of events.reverse()) {
      if (client.json) json(e);
      else line(cells(e).join('  '));
    }
  };
  let latest = await read(Math.min(args.max, 20));
  show([...latest]);
  let last = latest[0];
  let waitMs = POLL_MS;
  for (;;) {
    await sleep(waitMs);
    // Since the last event's time: its own millisecond may hold more than one event.
    latest = await read(args.max, last?.Time);
    const fresh = latest.filter((e) => last === undefined || newer(e.EventId, last.EventId));
    show([...fresh]);
    last = fresh[0] ?? last;
    waitMs = fresh.length > 0 ? POLL_MS : Math.min(MAX_POLL_MS, waitMs * 2);
  }
}

export function auditCli(argv: string[]): Promise<number> {
  return withParsed(parseAudit(argv, process.env), async (p, api) => {
    if (p.follow) return follow(api, p.client, p);
    const events = await pages<DescribeAuditEventsAnswer, AuditEventView>(
      api,
      p.client,
      'DescribeAuditEvents',
      p.filters,
      (a) => ({ rows: a.AuditEvents.AuditEvent, next: a.NextToken }),
      p.max,
    );
    if (!p.client.json) {
      line(
        renderTable(
          ['TIME', 'ACTOR', 'SOURCE', 'ACTION', 'RESULT', 'TARGET', 'ID'],
          events.map(cells),
        ),
      );
    }
    return 0;
  });
}
