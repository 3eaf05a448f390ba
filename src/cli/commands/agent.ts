/** `fleetcmd agent --help` (the agent itself is workers/agent; this file holds no agent code). */
export const AGENT_HELP = `Usage:
  fleetcmd agent [--node-id ID] [--redis-url URL] [--allow-shared-credentials]
  fleetcmd agent --register --url https://server:8080 --activation-id ID --activation-code CODE
                 [--node-id ID] [--ca FILE] [--insecure-http] [--state-dir DIR]

Runs the node agent. With --register it first trades an activation (CreateActivation) for
the node's own identity (POST /v1/RegisterNode) and stores the answer (node id, Redis URL with
the node's own user and password, prefix) in the state directory: a directory 0700, a file
0600, written atomically. A node that has a state file is registered already: --register then
uses it and asks nothing, so the same command can run at every boot.

Every start reads its settings in this order, the first that has one wins: command-line
flags, environment variables, the state file, the defaults. So after registering, a plain
\`fleetcmd agent\` starts the node with no flags.

Options:
  --register              register with an activation first (once)
  --url URL               the API; https:// (plain http:// only to this machine, or with
                          --insecure-http)
  --activation-id ID      from CreateActivation
  --activation-code CODE  from CreateActivation (shown once there; default
                          $FLEETCMD_ACTIVATION_CODE, which keeps it off the command line)
  --node-id ID            this node's id (default: the activation's InstanceName with a short
                          unique suffix, else this host's name)
  --ca FILE               PEM CA certificate the server's certificate must chain to
                          (default $FLEETCMD_CA; else the system's CAs)
  --insecure-http         allow registering over plain HTTP to another machine
  --state-dir DIR         where the state is kept (default $FLEETCMD_STATE_DIR or
                          /var/lib/fleetcmd)
  --redis-url URL         Redis with this node's own user (default $REDIS_URL)
  --allow-shared-credentials   start even when the Redis user reaches other nodes' keys

The agent stops, naming why, when its node is deregistered (DeregisterNodes, fleetcmd node
remove); it takes new credentials from \`fleetcmd node rotate\` without a restart.

Example (first boot and every boot after):
  fleetcmd agent --register --url https://fleet.example.com:8080 \\
    --activation-id 4ECEEE12-56F1-4FBC-9AB1-890F1234ABCD --activation-code "$CODE"`;
