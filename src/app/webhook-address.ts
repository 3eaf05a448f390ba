import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { AppError } from './errors.js';
import { unmapped } from './ip-range.js';

/**
 * Addresses a webhook may not reach unless FLEETCMD_WEBHOOK_ALLOW_PRIVATE is set: this host
 * (loopback), link-local (which holds the clouds' metadata services, 169.254.169.254),
 * private networks, carrier-grade NAT (100.64.0.0/10: one vendor's metadata service is
 * 100.100.100.200), and ranges that are not unicast on the internet.
 */
const REFUSED: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['::', 96, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['64:ff9b:1::', 48, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['fec0::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

const refused = new BlockList();
for (const [net, prefix, family] of REFUSED) refused.addSubnet(net, prefix, family);

/** Whether a webhook may not reach this IP address (an IPv4-mapped IPv6 address as its IPv4). */
export function isRefusedAddress(address: string): boolean {
  const ip = unmapped(address);
  const v = isIP(ip);
  if (v === 0) return true;
  return refused.check(ip, v === 4 ? 'ipv4' : 'ipv6');
}

/** A URL's host as an address when it is an IP literal (`[::1]` without brackets), else ''. */
function literalHost(url: URL): string {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) === 0 ? '' : host;
}

/**
 * CreateWebhook's check of a URL: http or https, and (unless `allowPrivate`) not an IP literal
 * of a refused range. A host name is checked at each delivery, after it is resolved.
 */
export function checkWebhookUrl(text: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError('InvalidParameter', `Url: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('InvalidParameter', `Url: must be http:// or https://, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new AppError('InvalidParameter', 'Url: must not carry a user name or password');
  }
  const literal = literalHost(url);
  if (!allowPrivate && literal !== '' && isRefusedAddress(literal)) {
    throw new AppError(
      'InvalidParameter',
      `Url: ${literal} is a loopback, link-local, private or reserved address (FLEETCMD_WEBHOOK_ALLOW_PRIVATE=true allows it)`,
    );
  }
  return url;
}

/** A resolved address the delivery connects to (never resolved again for that attempt). */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a webhook URL's host once and checks every address it has: one refused address
 * refuses the host (a name that resolves to both a public and a private address is refused),
 * unless `allowPrivate`. The delivery connects to the address answered, so a name whose
 * records change between this check and the connection (DNS rebinding) cannot redirect it.
 */
export async function resolveWebhookHost(
  url: URL,
  allowPrivate: boolean,
): Promise<ResolvedAddress> {
  const literal = literalHost(url);
  const found = literal
    ? [{ address: literal, family: isIP(literal) }]
    : await lookup(url.hostname, { all: true, verbatim: true });
  const first = found[0];
  if (!first) throw new Error(`${url.hostname}: no address`);
  if (!allowPrivate) {
    const bad = found.find((a) => isRefusedAddress(a.address));
    if (bad) {
      throw new AppError(
        'InvalidParameter',
        `${url.hostname} resolves to ${bad.address}, a loopback, link-local, private or reserved address`,
      );
    }
  }
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
