/**
 * Every `fleetcmd` command in one table: its lines in `fleetcmd --help`, how to run it (the
 * module is imported only when the command runs, so `--help` and each client command load only
 * what they need), its help pages, and what its arguments are for shell completion. The help
 * text, docs/cli.md and the completion scripts are all made from this table.
 */

import type { CliCommand } from './command-types.js';

export type { CliCommand, CompletionKind } from './command-types.js';

export const COMMANDS: readonly CliCommand[] = [
  {
    name: 'dev',
    usage: `  fleetcmd dev [--nodes 2] [--port 8080]       a whole local stack (private redis-server, server, agents)`,
    run: async (argv) => (await import('./roles.js')).devCli(argv),
    pages: async () => ({ '': (await import('./roles.js')).DEV_HELP }),
  },
  {
    name: 'server',
    usage: `  fleetcmd server [--role api|scheduler|all] [--port P] [--insecure-no-auth]`,
    run: async (argv) => (await import('./roles.js')).serverCli(argv),
    pages: async () => ({ '': (await import('./roles.js')).SERVER_HELP }),
  },
  {
    name: 'agent',
    usage: `  fleetcmd agent --node-id ID [--tag k=v ...] [--allow-shared-credentials]
  fleetcmd agent --register --url URL --activation-id ID --activation-code CODE   enrol, then run`,
    run: async (argv) => (await import('./agent-role.js')).agentCli(argv),
    pages: async () => ({ '': (await import('./commands/agent.js')).AGENT_HELP }),
  },
  {
    name: 'node',
    usage: `  fleetcmd node add|rotate|remove ID [--json]  a node's own Redis user (ACL)`,
    run: async (argv) => (await import('./commands/node.js')).nodeCli(argv, process.env),
    pages: async () => {
      const { NODE_HELP } = await import('./commands/node.js');
      return { '': NODE_HELP, add: NODE_HELP, rotate: NODE_HELP, remove: NODE_HELP };
    },
    positional: { add: 'nodes', rotate: 'nodes', remove: 'nodes' },
  },
  {
    name: 'run',
    usage: `\n  fleetcmd run --nodes n1,n2 | --target k=v,k2=v2 [--timeout S] [--frequency F] [--wait] -- 'command'`,
    run: async (argv) => (await import('./commands/run.js')).runCommandCli(argv),
    pages: async () => ({ '': (await import('./commands/run.js')).RUN_HELP }),
  },
  {
    name: 'describe',
    usage: `  fleetcmd describe [<InvokeId>] [--node N] [--status S] [--max N] [--by-node]`,
    run: async (argv) => (await import('./commands/describe.js')).describeCli(argv),
    pages: async () => ({ '': (await import('./commands/describe.js')).DESCRIBE_HELP }),
    positional: 'invocations',
  },
  {
    name: 'rerun',
    usage: `  fleetcmd rerun <InvokeId> [--status Failed,Timeout,Error] [--wait]   again where it did not succeed`,
    run: async (argv) => (await import('./commands/rerun.js')).rerunCli(argv),
    pages: async () => ({ '': (await import('./commands/rerun.js')).RERUN_HELP }),
    positional: 'invocations',
  },
  {
    name: 'logs',
    usage: `  fleetcmd logs <InvokeId> [--node N] [--follow]`,
    run: async (argv) => (await import('./commands/logs.js')).logsCli(argv),
    pages: async () => ({ '': (await import('./commands/logs.js')).LOGS_HELP }),
    positional: 'invocations',
  },
  {
    name: 'stop',
    usage: `  fleetcmd stop <InvokeId> [--nodes n1,n2]`,
    run: async (argv) => (await import('./commands/stop.js')).stopCli(argv),
    pages: async () => ({ '': (await import('./commands/stop.js')).STOP_HELP }),
    positional: 'invocations',
  },
  {
    name: 'nodes',
    usage: `  fleetcmd nodes [--online] [--tag k=v]`,
    run: async (argv) => (await import('./commands/nodes.js')).nodesCli(argv),
    pages: async () => ({ '': (await import('./commands/nodes.js')).NODES_HELP }),
  },
  {
    name: 'tag',
    usage: `  fleetcmd tag <NodeId>... key=value...        set node tags (see docs/tags.md)`,
    run: async (argv) => (await import('./commands/tag.js')).tagCli(argv),
    pages: async () => ({ '': (await import('./commands/tag.js')).TAG_HELP }),
    positional: 'nodes',
  },
  {
    name: 'untag',
    usage: `  fleetcmd untag <NodeId> key...               remove node tags`,
    run: async (argv) => (await import('./commands/untag.js')).untagCli(argv),
    pages: async () => ({ '': (await import('./commands/untag.js')).UNTAG_HELP }),
    positional: 'nodes',
  },
  {
    name: 'events',
    usage: `  fleetcmd events [--follow] [--type RunFinished] [--invoke-id ID]   lifecycle events`,
    run: async (argv) => (await import('./commands/events.js')).eventsCli(argv),
    pages: async () => ({ '': (await import('./commands/events.js')).EVENTS_HELP }),
  },
  {
    name: 'command',
    usage: `  fleetcmd command create|list|modify|delete|invoke ...   saved commands`,
    run: async (argv) => (await import('./commands/command.js')).commandCli(argv),
    pages: async () => {
      const m = await import('./commands/command.js');
      return {
        '': m.COMMAND_HELP,
        create: m.COMMAND_CREATE_HELP,
        list: m.COMMAND_LIST_HELP,
        modify: m.COMMAND_MODIFY_HELP,
        delete: m.COMMAND_DELETE_HELP,
        invoke: m.COMMAND_INVOKE_HELP,
      };
    },
    positional: { modify: 'commands', delete: 'commands', invoke: 'commands' },
  },
  {
    name: 'send-file',
    usage: `  fleetcmd send-file --nodes n1,n2 --target-dir DIR [--wait] <local-file>`,
    run: async (argv) => (await import('./commands/send-file.js')).sendFileCli(argv),
    pages: async () => ({ '': (await import('./commands/send-file.js')).SEND_FILE_HELP }),
  },
  {
    name: 'send-file-results',
    usage: `  fleetcmd send-file-results [<InvokeId>]`,
    run: async (argv) => (await import('./commands/send-file-results.js')).sendFileResultsCli(argv),
    pages: async () => ({
      '': (await import('./commands/send-file-results.js')).SEND_FILE_RESULTS_HELP,
    }),
  },
  {
    name: 'key',
    usage: `  fleetcmd key add|list|remove [--json]        access keys for the vendor's RPC protocol (in Redis)`,
    run: async (argv) => (await import('./commands/key.js')).keyCli(argv),
    pages: async () => {
      const { KEY_HELP } = await import('./commands/key.js');
      return { '': KEY_HELP, add: KEY_HELP, list: KEY_HELP, remove: KEY_HELP };
    },
  },
  {
    name: 'audit',
    usage: `  fleetcmd audit [--action A] [--actor X] [--follow]   who changed what (the audit trail)`,
    run: async (argv) => (await import('./commands/audit.js')).auditCli(argv),
    pages: async () => ({ '': (await import('./commands/audit.js')).AUDIT_HELP }),
  },
  {
    name: 'context',
    usage: `\n  fleetcmd context add|use|list|remove ...      named API addresses and tokens (config file)`,
    run: async (argv) => (await import('./commands/context.js')).contextCli(argv),
    pages: async () => {
      const m = await import('./commands/context.js');
      return {
        '': m.CONTEXT_HELP,
        add: m.CONTEXT_HELP,
        use: m.CONTEXT_HELP,
        list: m.CONTEXT_HELP,
        remove: m.CONTEXT_HELP,
      };
    },
    positional: { use: 'contexts', remove: 'contexts' },
  },
  {
    name: 'completion',
    usage: `  fleetcmd completion bash|zsh|fish            a shell completion script`,
    run: async (argv) => (await import('./commands/completion.js')).completionCli(argv, COMMANDS),
    pages: async () => {
      const { COMPLETION_HELP } = await import('./commands/completion.js');
      return {
        '': COMPLETION_HELP,
        bash: COMPLETION_HELP,
        zsh: COMPLETION_HELP,
        fish: COMPLETION_HELP,
      };
    },
  },
  {
    name: '__complete',
    usage: '',
    hidden: true,
    run: async (argv) => (await import('./complete.js')).completeCli(argv),
  },
];

export function findCommand(name: string): CliCommand | undefined {
  return COMMANDS.find((c) => c.name === name);
}
