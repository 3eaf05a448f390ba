/**
 * The client subcommands: arguments (args.ts) in, API calls, text (format.ts) out.
 * Everything the user reads goes to stdout; progress goes to stderr.
 */
import { readFile } from 'node:fs/promises';
import {
  COMMAND_HELP,
  parseCommandCreate,
  parseCommandDelete,
  parseCommandInvoke,
  parseCommandList,
  parseCommandModify,
  parseDescribe,
  parseLogs,
  parseNodes,
  parseRun,
  parseSendFile,
  parseSendFileResults,
  parseStop,
  UsageError,
  type Body,
  type ClientArgs,
  type Parsed,
} from './args.js';
import {
  exitCodeFor,
  nodeHeader,
  orDash,
  OutputFollower,
  plainProgressDue,
  progressLine,
  renderTable,
  truncate,
} from './format.js';
import { ApiClient } from './api-client.js';
import { aggregateStatus, isFinalNodeStatus, type NodeStatus } from '../domain/status.js';
// Types only: the CLI reads the answers the API's schemas describe, and loads none of the API.
import type {
  CommandIdAnswer,
  CommandView,
  DescribeCommandsAnswer,
  DescribeInvocationResultsAnswer,
  DescribeInvocationsAnswer,
  DescribeNodesAnswer,
  DescribeSendFileResultsAnswer,
  FileInvocationView,
  InvocationResultView,
  InvocationView,
  InvokeIdAnswer,
  NodeView,
} from '../api/schemas/response.js';

/** How often --wait and --follow ask the API. */
const POLL_MS = 500;

function out(text: string | Buffer): void {
  process.stdout.write(text);
}

function line(text: string): void {
  out(`${text}\n`);
}

/** With --json each raw API answer is one line of stdout. */
function json(answer: unknown): void {
  line(JSON.stringify(answer));
}

function apiFor(client: ClientArgs): ApiClient {
  return new ApiClient({ url: client.url, token: client.token });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls a listing action page by page until `max` rows or the last page; with --json every
 * answer is printed as it arrives.
 */
async function pages<A, T>(
  api: ApiClient,
  client: ClientArgs,
  action: string,
  body: Body,
  pick: (answer: A) => { rows: T[]; next: string | undefined },
  max = Number.MAX_SAFE_INTEGER,
): Promise<T[]> {
  const rows: T[] = [];
  let token: string | undefined;
  do {
    const answer = await api.call<A>(action, {
      ...body,
      MaxResults: Math.min(50, max - rows.length),
      ...(token ? { NextToken: token } : {}),
    });
    if (client.json) json(answer);
    const page = pick(answer);
    rows.push(...page.rows);
    token = page.next;
  } while (token && rows.length < max);
  return rows.slice(0, max);
}

/** The progress line on stderr: redrawn in place on a terminal, occasional lines otherwise. */
class Progress {
  #last: { line: string; atMs: number } | undefined;
  readonly #tty = process.stderr.isTTY === true;

  constructor(private readonly enabled: boolean) {}

  /** Without a terminal, --json keeps stderr quiet too. */
  static for(client: ClientArgs): Progress {
    return new Progress(!client.json || process.stderr.isTTY === true);
  }

  update(statuses: readonly NodeStatus[]): void {
    if (!this.enabled) return;
    const text = progressLine(statuses);
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
    } else if (plainProgressDue(this.#last, text, Date.now())) {
      process.stderr.write(`${text}\n`);
      this.#last = { line: text, atMs: Date.now() };
    }
  }

  /** The final state, always shown once. */
  done(statuses: readonly NodeStatus[]): void {
    if (!this.enabled) return;
    const text = progressLine(statuses);
    if (this.#tty) process.stderr.write(`\r\x1b[2K${text}\n`);
    else if (this.#last?.line !== text) process.stderr.write(`${text}\n`);
  }
}

/** Polls `statuses` until every node is final, showing progress; returns the final statuses. */
async function waitFinal(
  client: ClientArgs,
  statuses: () => Promise<NodeStatus[]>,
): Promise<NodeStatus[]> {
  const progress = Progress.for(client);
  for (;;) {
    const now = await statuses();
    if (now.every(isFinalNodeStatus)) {
      progress.done(now);
      return now;
    }
    progress.update(now);
    await sleep(POLL_MS);
  }
}

async function describeInvocation(
  api: ApiClient,
  body: Body,
): Promise<{ answer: DescribeInvocationsAnswer; inv: InvocationView }> {
  const answer = await api.call<DescribeInvocationsAnswer>('DescribeInvocations', body);
  const inv = answer.Invocations.Invocation[0];
  if (!inv) throw new UsageError(`no invocation ${String(body.InvokeId)} matches`);
  return { answer, inv };
}

/**
 * Whether command output is shown with visible control characters: on a terminal unless --raw
 * (an ESC sequence in a command's output must not drive the user's terminal). Piped, it passes.
 */
function escapeOutput(client: ClientArgs): boolean {
  return !client.raw && process.stdout.isTTY === true;
}

/** Each node's output; with `headers`, a header line (node, status, exit code) before each. */
function printOutputs(
  client: ClientArgs,
  rows: readonly InvocationResultView[],
  headers: boolean,
): void {
  for (const r of rows) {
    if (headers) line(nodeHeader(r));
    const follower = new OutputFollower('', undefined, escapeOutput(client));
    out(follower.update(Buffer.from(r.Output, 'base64'), r.Dropped));
    out(follower.end());
  }
}

/** After RunCommand or InvokeCommand: the InvokeId, or with --wait progress, outputs, exit code. */
async function afterInvoke(
  api: ApiClient,
  client: ClientArgs,
  answer: InvokeIdAnswer,
  wait: boolean,
): Promise<number> {
  if (client.json) json(answer);
  else if (!wait) line(answer.InvokeId);
  if (!wait) return 0;
  const id = answer.InvokeId;
  const statuses = await waitFinal(client, async () => {
    const { inv } = await describeInvocation(api, { InvokeId: id });
    return inv.InvokeNodes.InvokeNode.map((n) => n.InvocationStatus);
  });
  if (client.json) {
    const final = { InvokeId: id, IncludeOutput: true, ContentEncoding: 'PlainText' };
    json((await describeInvocation(api, final)).answer);
  } else {
    const rows = await invocationResults(api, client, { InvokeId: id, ContentEncoding: 'Base64' });
    printOutputs(client, rows, true);
    line(`${id}: ${aggregateStatus(statuses)}`);
  }
  return exitCodeFor(statuses);
}

function invocationResults(
  api: ApiClient,
  client: ClientArgs,
  body: Body,
  max?: number,
): Promise<InvocationResultView[]> {
  return pages<DescribeInvocationResultsAnswer, InvocationResultView>(
    api,
    client,
    'DescribeInvocationResults',
    body,
    (a) => ({
      rows: a.Invocation.InvocationResults.InvocationResult,
      next: a.Invocation.NextToken,
    }),
    max,
  );
}

/** Runs a subcommand's parsed form, or prints its help. */
async function withParsed<T>(
  parsed: Parsed<T>,
  run: (p: T & { client: ClientArgs }, api: ApiClient) => Promise<number>,
): Promise<number> {
  if ('help' in parsed) {
    line(parsed.help);
    return 0;
  }
  return run(parsed, apiFor(parsed.client));
}

export function runCommandCli(argv: string[]): Promise<number> {
  return withParsed(parseRun(argv, process.env), async (p, api) =>
    afterInvoke(api, p.client, await api.call('RunCommand', p.request), p.wait),
  );
}

function doneOf(nodes: readonly { InvocationStatus: NodeStatus }[]): string {
  return `${nodes.filter((n) => isFinalNodeStatus(n.InvocationStatus)).length}/${nodes.length}`;
}

export function describeCli(argv: string[]): Promise<number> {
  return withParsed(parseDescribe(argv, process.env), async (p, api) => {
    if (p.invokeId === undefined) {
      const filters = { NodeId: p.node, InvokeStatus: p.status };
      const list = await pages<DescribeInvocationsAnswer, InvocationView>(
        api,
        p.client,
        'DescribeInvocations',
        filters,
        (a) => ({ rows: a.Invocations.Invocation, next: a.NextToken }),
        p.max,
      );
      if (!p.client.json) {
        line(
          renderTable(
            ['INVOKE ID', 'NAME', 'STATUS', 'MODE', 'NODES', 'CREATED'],
            list.map((i) => [
              i.InvokeId,
              orDash(i.CommandName),
              i.InvocationStatus,
              i.RepeatMode,
              doneOf(i.InvokeNodes.InvokeNode),
              i.CreationTime,
            ]),
          ),
        );
      }
      return 0;
    }
    const { answer, inv } = await describeInvocation(api, { InvokeId: p.invokeId });
    if (p.client.json) json(answer);
    const rows = await invocationResults(
      api,
      p.client,
      { InvokeId: p.invokeId, NodeId: p.node, InvokeRecordStatus: p.status },
      p.max,
    );
    if (!p.client.json) {
      line(
        `${inv.InvokeId}  ${inv.InvocationStatus}  ${inv.RepeatMode}  created ${inv.CreationTime}  ${inv.CommandName}`.trimEnd(),
      );
      line(
        renderTable(
          ['NODE', 'STATUS', 'EXIT', 'RUNS', 'STARTED', 'FINISHED', 'ERROR'],
          rows.map((r) => [
            r.NodeId,
            r.InvocationStatus,
            orDash(r.ExitCode),
            String(r.Repeats),
            orDash(r.StartTime),
            orDash(r.FinishedTime),
            r.ErrorInfo,
          ]),
        ),
      );
    }
    return 0;
  });
}

export function logsCli(argv: string[]): Promise<number> {
  return withParsed(parseLogs(argv, process.env), async (p, api) => {
    // Text mode reads Base64: exact bytes, so Dropped (bytes) lines up with what is printed.
    const body = {
      InvokeId: p.invokeId,
      NodeId: p.node,
      ContentEncoding: p.client.json ? 'PlainText' : 'Base64',
    };
    const results = async () => {
      const rows = await invocationResults(api, p.client, body);
      if (rows.length === 0) throw new UsageError(`${p.invokeId} has no node ${String(p.node)}`);
      return rows;
    };
    if (!p.follow) {
      const rows = await results();
      if (!p.client.json) printOutputs(p.client, rows, rows.length > 1);
      return 0;
    }
    const followers = new Map<string, OutputFollower>();
    const finished = new Set<string>();
    for (;;) {
      const rows = await results();
      const width = Math.max(...rows.map((r) => r.NodeId.length));
      for (const r of rows) {
        if (p.client.json || finished.has(r.NodeId)) continue;
        let f = followers.get(r.NodeId);
        if (!f) {
          const prefix = rows.length > 1 ? `${r.NodeId.padEnd(width)} | ` : '';
          f = new OutputFollower(prefix, undefined, escapeOutput(p.client));
          followers.set(r.NodeId, f);
        }
        out(f.update(Buffer.from(r.Output, 'base64'), r.Dropped));
        if (isFinalNodeStatus(r.InvocationStatus)) {
          out(f.end());
          finished.add(r.NodeId);
        }
      }
      const statuses = rows.map((r) => r.InvocationStatus);
      if (statuses.every(isFinalNodeStatus)) return exitCodeFor(statuses);
      await sleep(POLL_MS);
    }
  });
}

export function stopCli(argv: string[]): Promise<number> {
  return withParsed(parseStop(argv, process.env), async (p, api) => {
    const answer = await api.call('StopInvocation', p.request);
    if (p.client.json) json(answer);
    else line(`stopping ${String(p.request.InvokeId)}`);
    return 0;
  });
}

export function nodesCli(argv: string[]): Promise<number> {
  return withParsed(parseNodes(argv, process.env), async (p, api) => {
    const nodes = await pages<DescribeNodesAnswer, NodeView>(
      api,
      p.client,
      'DescribeNodes',
      p.online ? { Online: true } : {},
      (a) => ({ rows: a.Nodes.Node, next: a.NextToken }),
    );
    if (p.client.json) return 0;
    line(
      renderTable(
        ['NODE', 'ONLINE', 'HOSTNAME', 'OS', 'ZONE', 'AGENT', 'ACTIVE', 'LAST HEARTBEAT'],
        nodes.map((n) => [
          n.NodeId,
          n.Online ? 'yes' : 'no',
          orDash(n.Hostname),
          orDash(n.OsType),
          orDash(n.TimeZone),
          orDash(n.AgentVersion),
          String(n.ActiveTaskCount),
          orDash(n.LastHeartbeatTime),
        ]),
      ),
    );
    return 0;
  });
}

/** Saved commands: `fleetcmd command create|list|modify|delete|invoke`. */
export async function commandCli(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create':
      return withParsed(parseCommandCreate(rest, process.env), async (p, api) => {
        const answer = await api.call<CommandIdAnswer>('CreateCommand', p.request);
        line(p.client.json ? JSON.stringify(answer) : answer.CommandId);
        return 0;
      });
    case 'list':
      return withParsed(parseCommandList(rest, process.env), async (p, api) => {
        const commands = await pages<DescribeCommandsAnswer, CommandView>(
          api,
          p.client,
          'DescribeCommands',
          p.request,
          (a) => ({ rows: a.Commands.Command, next: a.NextToken }),
        );
        if (p.client.json) return 0;
        line(
          renderTable(
            ['COMMAND ID', 'NAME', 'TIMEOUT', 'PARAMETERS', 'RUNS', 'CREATED', 'CONTENT'],
            commands.map((c) => [
              c.CommandId,
              c.Name,
              String(c.Timeout),
              orDash(c.ParameterNames?.ParameterName.join(',')),
              String(c.InvokeTimes),
              c.CreationTime,
              truncate(c.CommandContent.replace(/\s+/g, ' '), 60),
            ]),
          ),
        );
        return 0;
      });
    case 'modify':
      return withParsed(parseCommandModify(rest, process.env), async (p, api) => {
        const answer = await api.call('ModifyCommand', p.request);
        line(p.client.json ? JSON.stringify(answer) : `modified ${String(p.request.CommandId)}`);
        return 0;
      });
    case 'delete':
      return withParsed(parseCommandDelete(rest, process.env), async (p, api) => {
        const answer = await api.call('DeleteCommand', p.request);
        line(p.client.json ? JSON.stringify(answer) : `deleted ${String(p.request.CommandId)}`);
        return 0;
      });
    case 'invoke':
      return withParsed(parseCommandInvoke(rest, process.env), async (p, api) =>
        afterInvoke(api, p.client, await api.call('InvokeCommand', p.request), p.wait),
      );
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      line(COMMAND_HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command subcommand ${JSON.stringify(sub)}`, COMMAND_HELP);
  }
}

async function sendFileInvocation(api: ApiClient, invokeId: string) {
  const answer = await api.call<DescribeSendFileResultsAnswer>('DescribeSendFileResults', {
    InvokeId: invokeId,
  });
  const inv = answer.Invocations.Invocation[0];
  if (!inv) throw new UsageError(`no file send ${invokeId}`);
  return { answer, inv };
}

function printFileNodes(inv: FileInvocationView): void {
  line(
    `${inv.InvokeId}  ${inv.InvocationStatus}  ${inv.TargetDir}/${inv.Name}  created ${inv.CreationTime}`,
  );
  line(
    renderTable(
      ['NODE', 'STATUS', 'STARTED', 'FINISHED', 'ERROR CODE', 'ERROR'],
      inv.InvokeNodes.InvokeNode.map((n) => [
        n.NodeId,
        n.InvocationStatus,
        orDash(n.StartTime),
        orDash(n.FinishTime),
        orDash(n.ErrorCode),
        n.ErrorInfo,
      ]),
    ),
  );
}

export function sendFileCli(argv: string[]): Promise<number> {
  return withParsed(parseSendFile(argv, process.env), async (p, api) => {
    const bytes = await readFile(p.path).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${p.path}: ${err.code ?? err.message}`);
    });
    const request = p.request(bytes);
    const answer = await api.call<InvokeIdAnswer>('SendFile', request);
    if (p.client.json) json(answer);
    else if (!p.wait) line(answer.InvokeId);
    if (!p.wait) return 0;
    const statuses = await waitFinal(p.client, async () =>
      (await sendFileInvocation(api, answer.InvokeId)).inv.InvokeNodes.InvokeNode.map(
        (n) => n.InvocationStatus,
      ),
    );
    const final = await sendFileInvocation(api, answer.InvokeId);
    if (p.client.json) json(final.answer);
    else printFileNodes(final.inv);
    return exitCodeFor(statuses);
  });
}

export function sendFileResultsCli(argv: string[]): Promise<number> {
  return withParsed(parseSendFileResults(argv, process.env), async (p, api) => {
    const list = await pages<DescribeSendFileResultsAnswer, FileInvocationView>(
      api,
      p.client,
      'DescribeSendFileResults',
      p.request,
      (a) => ({ rows: a.Invocations.Invocation, next: a.NextToken }),
      p.max,
    );
    if (p.client.json) return 0;
    const one = list[0];
    if (p.invokeId !== undefined && one) {
      printFileNodes(one);
      return 0;
    }
    line(
      renderTable(
        ['INVOKE ID', 'NAME', 'TARGET', 'STATUS', 'NODES', 'CREATED'],
        list.map((i) => [
          i.InvokeId,
          i.Name,
          i.TargetDir,
          i.InvocationStatus,
          doneOf(i.InvokeNodes.InvokeNode),
          i.CreationTime,
        ]),
      ),
    );
    return 0;
  });
}
