/** `fleetcmd send-file`: sends a small local file to nodes (SendFile). */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  clientArgs,
  CLIENT_HELP,
  given,
  targetFields,
  parseFlags,
  required,
  wholeNumber,
  type Body,
  type Parsed,
} from '../client-args.js';
import { printFileNodes, sendFileInvocation } from '../file-invocation.js';
import { exitCodeFor } from '../format.js';
import { json, line } from '../print.js';
import { UsageError } from '../usage-error.js';
import { waitFinal } from '../wait.js';
import { withParsed } from '../with-parsed.js';
import { MAX_FILE_BASE64_BYTES } from '../../domain/send-file.js';
import type { InvokeIdAnswer } from '../../api/schemas/response.js';

export const SEND_FILE_HELP = `Usage: fleetcmd send-file --nodes n1,n2 --target-dir DIR [options] <local-file>

Sends a local file (at most 24 KiB: 32 KiB once Base64-encoded) to the nodes and prints the
InvokeId.
  --nodes LIST          comma-separated node ids (this or --target)
  --target TAGS         the nodes whose tags match every key=value pair, e.g. rack=r12
  --target-dir DIR      directory on the nodes (required)
  --name NAME           file name on the nodes (default: the local file's name)
  --mode MODE           permissions, octal (default 0644)
  --owner USER          owner on the nodes
  --group GROUP         group on the nodes
  --overwrite           replace a file that exists (default: fail on that node)
  --timeout SECONDS
  --description TEXT
  --wait                show progress, then each node's result; exit code as for run --wait
${CLIENT_HELP}

Example: fleetcmd send-file --nodes n1,n2 --target-dir /etc/myapp --mode 0600 --overwrite --wait app.conf`;

export interface SendFileArgs {
  wait: boolean;
  /** The local file to read. */
  path: string;
  /** The request, once the file's bytes are known. */
  request: (bytes: Buffer) => Body;
}

export function parseSendFile(argv: string[], env: NodeJS.ProcessEnv): Parsed<SendFileArgs> {
  const { values, positionals } = parseFlags(argv, {
    nodes: { type: 'string' },
    target: { type: 'string' },
    'target-dir': { type: 'string' },
    name: { type: 'string' },
    mode: { type: 'string', default: '0644' },
    owner: { type: 'string' },
    group: { type: 'string' },
    overwrite: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    description: { type: 'string' },
    wait: { type: 'boolean', default: false },
  });
  if (values.help) return { help: SEND_FILE_HELP };
  if (positionals.length !== 1) throw new UsageError('name one local file', SEND_FILE_HELP);
  const path = positionals[0] as string;
  const targets = targetFields(values, SEND_FILE_HELP);
  const targetDir = required(values['target-dir'], '--target-dir', SEND_FILE_HELP);
  if (!/^[0-7]{3,4}$/.test(values.mode)) {
    throw new UsageError('--mode must be octal permissions such as 0644');
  }
  const fixed = {
    ...targets,
    Name: values.name ?? basename(path),
    TargetDir: targetDir,
    ContentType: 'Base64',
    FileMode: values.mode.padStart(4, '0'),
    Overwrite: values.overwrite,
    ...given({
      FileOwner: values.owner,
      FileGroup: values.group,
      Timeout: wholeNumber('timeout', values.timeout, 1, 86_400),
      Description: values.description,
    }),
  };
  return {
    client: clientArgs(values, env),
    wait: values.wait,
    path,
    request: (bytes) => {
      const content = bytes.toString('base64');
      if (content.length > MAX_FILE_BASE64_BYTES) {
        throw new UsageError(
          `${path} is ${bytes.length} bytes (${content.length} once Base64-encoded); SendFile takes at most ${MAX_FILE_BASE64_BYTES} Base64 bytes`,
        );
      }
      return { ...fixed, Content: content };
    },
  };
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
    const statuses = await waitFinal(
      p.client,
      async () =>
        (await sendFileInvocation(api, answer.InvokeId)).inv.InvokeNodes.InvokeNode.map(
          (n) => n.InvocationStatus,
        ),
      answer.InvokeId,
    );
    const final = await sendFileInvocation(api, answer.InvokeId);
    if (p.client.json) json(final.answer);
    else printFileNodes(final.inv);
    return exitCodeFor(statuses);
  });
}
