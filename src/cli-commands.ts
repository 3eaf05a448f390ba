import { parseArgs } from 'node:util';
import { aggregateStatus, isFinalNodeStatus, type NodeStatus } from './domain/status.js';
import { ApiClient } from './client.js';

interface InvokeNodeView {
  NodeId: string;
  InvocationStatus: NodeStatus;
  ExitCode?: number;
  Output?: string;
  Dropped: number;
  StartTime: string;
  FinishTime: string;
  ErrorInfo: string;
  Repeats: number;
}

interface InvocationView {
  InvokeId: string;
  InvocationStatus: string;
  InvokeStatus: string;
  CommandName: string;
  CreationTime: string;
  InvokeNodes: { InvokeNode: InvokeNodeView[] };
}

const clientFlags = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function client(values: { url?: string; token?: string }): ApiClient {
  return new ApiClient({
    url: values.url ?? process.env.FLEETCMD_URL ?? 'http://127.0.0.1:8080',
    token: values.token ?? process.env.FLEETCMD_API_TOKEN,
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function describe(
  api: ApiClient,
  invokeId: string,
  includeOutput: boolean,
): Promise<InvocationView> {
  const res = await api.call<{ Invocations: { Invocation: InvocationView[] } }>(
    'DescribeInvocations',
    {
      InvokeId: invokeId,
      IncludeOutput: includeOutput,
      ContentEncoding: 'PlainText',
    },
  );
  const inv = res.Invocations.Invocation[0];
  if (!inv) throw new Error(`no invocation ${invokeId}`);
  return inv;
}

function nodeTable(inv: InvocationView): string {
  return table([
    ['NODE', 'STATUS', 'EXIT', 'STARTED', 'FINISHED', 'DROPPED', 'ERROR'],
    ...inv.InvokeNodes.InvokeNode.map((n) => [
      n.NodeId,
      n.InvocationStatus,
      n.ExitCode === undefined ? '-' : String(n.ExitCode),
      n.StartTime || '-',
      n.FinishTime || '-',
      String(n.Dropped),
      n.ErrorInfo || '',
    ]),
  ]);
}

const RUN_HELP = `Usage: fleetcmd run --nodes n1,n2 [options] -- 'command'

Runs a command on the given nodes (once, on a schedule or at boot) and prints its InvokeId.
  --nodes LIST        comma-separated node ids (required)
  --frequency TEXT    a schedule: six-field cron (seconds first), rate(5m) or at(...)
  --repeat-mode MODE  Once, Period, NextRebootOnly or EveryReboot
  --timeout SECONDS   kill the command after this long (default 60)
  --user NAME         run as this user (default: the agent's user)
  --dir PATH          working directory (default: the user's home)
  --name NAME         a name shown by describe
  --wait              wait for every node, print each node's output; exit 0 only on Success
                      (not with a schedule or a boot mode: those do not end by themselves)
  --json              print JSON instead of text
  --url URL           API address (default $FLEETCMD_URL or http://127.0.0.1:8080)
  --token TOKEN       bearer token (default $FLEETCMD_API_TOKEN)

Example: fleetcmd run --nodes n1,n2 --wait -- 'uname -a'
Example: fleetcmd run --nodes n1 --frequency '0 0 9 * * MON-FRI Europe/Berlin' -- 'backup.sh'`;

export async function runCommandCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...clientFlags,
      nodes: { type: 'string' },
      timeout: { type: 'string' },
      user: { type: 'string' },
      dir: { type: 'string' },
      name: { type: 'string' },
      frequency: { type: 'string' },
      'repeat-mode': { type: 'string' },
      wait: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(RUN_HELP);
    return 0;
  }
  const command = positionals.join(' ');
  if (!values.nodes || command.trim() === '') {
    console.error(RUN_HELP);
    return 2;
  }
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !Number.isInteger(timeout)) {
    console.error('--timeout must be a whole number of seconds');
    return 2;
  }
  const mode = values['repeat-mode'];
  if (values.wait && (values.frequency || (mode && mode !== 'Once'))) {
    console.error('--wait works with one-off runs only: a schedule does not end by itself');
    return 2;
  }
  const api = client(values);
  const res = await api.call<{ InvokeId: string }>('RunCommand', {
    NodeIdList: values.nodes
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    CommandContent: command,
    ...(timeout !== undefined ? { Timeout: timeout } : {}),
    ...(values.user ? { Username: values.user } : {}),
    ...(values.dir ? { WorkingDir: values.dir } : {}),
    ...(values.name ? { Name: values.name } : {}),
    ...(values.frequency ? { Frequency: values.frequency } : {}),
    ...(mode ? { RepeatMode: mode } : {}),
  });
  if (!values.wait) {
    console.log(values.json ? JSON.stringify(res) : res.InvokeId);
    return 0;
  }
  const tty = process.stderr.isTTY;
  for (;;) {
    const inv = await describe(api, res.InvokeId, false);
    const nodes = inv.InvokeNodes.InvokeNode;
    const done = nodes.filter((n) => isFinalNodeStatus(n.InvocationStatus)).length;
    if (tty)
      process.stderr.write(
        `\r${res.InvokeId}: ${done}/${nodes.length} done (${inv.InvocationStatus})   `,
      );
    if (done === nodes.length) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  if (tty) process.stderr.write('\n');
  const inv = await describe(api, res.InvokeId, true);
  if (values.json) {
    console.log(JSON.stringify(inv, null, 2));
  } else {
    for (const n of inv.InvokeNodes.InvokeNode) {
      const exit = n.ExitCode === undefined ? '' : ` exit ${n.ExitCode}`;
      console.log(
        `--- ${n.NodeId}: ${n.InvocationStatus}${exit}${n.ErrorInfo ? ` (${n.ErrorInfo})` : ''}`,
      );
      if (n.Output) process.stdout.write(n.Output.endsWith('\n') ? n.Output : `${n.Output}\n`);
      if (n.Dropped > 0) console.log(`[${n.Dropped} bytes of output dropped]`);
    }
    console.log(`${inv.InvokeId}: ${inv.InvocationStatus}`);
  }
  const agg = aggregateStatus(inv.InvokeNodes.InvokeNode.map((n) => n.InvocationStatus));
  return agg === 'Success' ? 0 : 1;
}

export async function describeCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...clientFlags, output: { type: 'boolean', default: false } },
  });
  const id = positionals[0];
  if (values.help || !id) {
    console.log(`Usage: fleetcmd describe <InvokeId> [--output] [--json]

Shows an invocation and each node's status (--output adds each node's output).
Example: fleetcmd describe t-ind3k9ytvvduoe8`);
    return values.help ? 0 : 2;
  }
  const inv = await describe(client(values), id, values.output);
  if (values.json) {
    console.log(JSON.stringify(inv, null, 2));
    return 0;
  }
  console.log(
    `${inv.InvokeId}  ${inv.InvocationStatus}  created ${inv.CreationTime}  ${inv.CommandName}`,
  );
  console.log(nodeTable(inv));
  if (values.output) {
    for (const n of inv.InvokeNodes.InvokeNode) console.log(`--- ${n.NodeId}\n${n.Output ?? ''}`);
  }
  return 0;
}

export async function stopCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...clientFlags, nodes: { type: 'string' } },
  });
  const id = positionals[0];
  if (values.help || !id) {
    console.log(`Usage: fleetcmd stop <InvokeId> [--nodes n1,n2]

Stops an invocation: nodes that have not started are Cancelled, running ones are killed.
Example: fleetcmd stop t-ind3k9ytvvduoe8`);
    return values.help ? 0 : 2;
  }
  await client(values).call('StopInvocation', {
    InvokeId: id,
    ...(values.nodes ? { NodeIdList: values.nodes.split(',') } : {}),
  });
  console.log(`stopping ${id}`);
  return 0;
}

export async function nodesCli(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: clientFlags });
  if (values.help) {
    console.log(`Usage: fleetcmd nodes [--json]

Lists registered nodes with their heartbeat and agent details.
Example: fleetcmd nodes`);
    return 0;
  }
  const api = client(values);
  const rows: Record<string, unknown>[] = [];
  let token: string | undefined;
  do {
    const res = await api.call<{ Nodes: { Node: Record<string, unknown>[] }; NextToken?: string }>(
      'DescribeNodes',
      {
        MaxResults: 50,
        ...(token ? { NextToken: token } : {}),
      },
    );
    rows.push(...res.Nodes.Node);
    token = res.NextToken;
  } while (token);
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  console.log(
    table([
      ['NODE', 'ONLINE', 'HOSTNAME', 'LAST HEARTBEAT', 'ACTIVE', 'INVOCATIONS', 'VERSION'],
      ...rows.map((r) => [
        String(r.NodeId),
        r.Online ? 'yes' : 'no',
        String(r.Hostname),
        String(r.LastHeartbeatTime || '-'),
        String(r.ActiveTaskCount),
        String(r.InvocationCount),
        String(r.AgentVersion),
      ]),
    ]),
  );
  return 0;
}
