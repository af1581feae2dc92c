/**
 * The egress guard: integrations may only reach public addresses, so a tenant cannot point the
 * gateway at its own loopback, the platform's private network or a cloud metadata service. The
 * check runs on the addresses a name resolves to when an integration is saved, and again on the
 * address actually connected to at every request (a DNS answer can change in between).
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['100::', 64], ['2001:db8::', 32],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** The IPv4 address inside an IPv4-mapped or IPv4-compatible IPv6 form, if any. */
function embeddedIPv4(address: string): string | undefined {
  const m = /^(?:0*:)*:(?:ffff:)?((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address) ?? /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(address);
  if (m) return m[1];
  const hex = /^(?:0*:)*:ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** Whether an IP address is public (not loopback, private, link-local, shared, unspecified, ...). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIPv4(address);
    if (v4 !== undefined) return !blocked.check(v4, 'ipv4');
    return !blocked.check(address, 'ipv6');
  }
  return false;
}

export class EgressForbiddenError extends Error {
  readonly code = 'EGRESS_FORBIDDEN';
}

/** Resolves a host and refuses it unless every address is public. Returns the addresses. */
export async function checkHost(host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const addresses: string[] = isIP(bare) ? [bare] : await new Promise<string[]>((resolve, reject) =>
    dnsLookup(bare, { all: true }, (err, list) => (err ? reject(err) : resolve(list.map((a) => a.address)))),
  );
  const forbidden = addresses.filter((a) => !isPublicAddress(a));
  if (addresses.length === 0 || forbidden.length > 0) {
    throw new EgressForbiddenError(
      `${host} resolves to ${forbidden.length > 0 ? `a non-public address (${forbidden.join(', ')})` : 'no address'}; integrations may only reach public addresses (an operator can allow private ones with METERWAY_ALLOW_PRIVATE_EGRESS=1)`,
    );
  }
  return addresses;
}

/** A `lookup` for http(s).request that refuses non-public addresses at connect time. */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, list) => {
    if (err) return callback(err, '', 0);
    const addresses = list as Array<{ address: string; family: number }>;
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad !== undefined || addresses.length === 0) {
      return callback(new EgressForbiddenError(`${hostname} resolved to a non-public address (${bad?.address ?? 'none'}); refused by the egress guard`), '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
};
