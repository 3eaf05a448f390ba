/**
 * The top-level help that `fleetcmd --help` prints. Kept apart from main.ts so that
 * scripts/gen-cli-docs.ts can build docs/cli.md from the very text the CLI prints.
 */
export const HELP = `fleetcmd — run commands across a fleet of nodes

Usage:
  fleetcmd dev [--nodes 2] [--port 8080]       a whole local stack (private redis-server, server, agents)
  fleetcmd server [--role api|scheduler|all] [--port P] [--insecure-no-auth]
  fleetcmd agent --node-id ID [--allow-shared-credentials]
  fleetcmd node add|remove ID [--rotate] [--json]   a node's own Redis user (ACL)

  fleetcmd run --nodes n1,n2 [--timeout S] [--frequency F] [--wait] -- 'command'
  fleetcmd describe [<InvokeId>] [--node N] [--status S] [--max N] [--by-node]
  fleetcmd rerun <InvokeId> [--status Failed,Timeout,Error] [--wait]
  fleetcmd logs <InvokeId> [--node N] [--follow]
  fleetcmd stop <InvokeId> [--nodes n1,n2]
  fleetcmd nodes [--online]
  fleetcmd command create|list|modify|delete|invoke ...   saved commands
  fleetcmd send-file --nodes n1,n2 --target-dir DIR [--wait] <local-file>
  fleetcmd send-file-results [<InvokeId>]
  fleetcmd key add|list|remove [--json]        access keys for the vendor's RPC protocol (in Redis)

Each command has --help (with examples); the client commands take --json, --url and --token
(default $FLEETCMD_URL and $FLEETCMD_API_TOKEN). Configuration: flags or environment variables
(see docs/configuration.md).

Exit codes of run --wait, command invoke --wait, rerun --wait, send-file --wait and logs --follow:
  0 Success   1 a node failed (exit code not 0)   3 a node timed out
  4 a node could not run (Error, Invalid, Aborted)   5 every node was stopped
  2 (any command) bad arguments or an API error`;
