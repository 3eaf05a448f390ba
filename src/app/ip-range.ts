import { BlockList, isIP } from 'node:net';

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as the IPv4 address it maps. */
export function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

/** The parts of a CIDR range (`10.0.0.0/8`, `2001:db8::/32`), or undefined when it is not one. */
export function parseCidr(
  text: string,
): { network: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const network = m[1] ?? '';
  const prefix = Number(m[2]);
  const v = isIP(network);
  if (v === 0 || prefix > (v === 4 ? 32 : 128)) return undefined;
  return { network, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** Whether `address` lies in the CIDR range (an IPv4-mapped IPv6 address as its IPv4). */
export function inCidr(address: string, cidr: string): boolean {
  const range = parseCidr(cidr);
  const ip = unmapped(address);
  const v = isIP(ip);
  if (!range || v === 0) return false;
  const list = new BlockList();
  list.addSubnet(range.network, range.prefix, range.family);
  return list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
}
