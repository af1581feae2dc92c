/**
 * The egress guard: integrations may only reach public addresses, so a tenant cannot point the
 * gateway at its own loopback, the platform's private network or a cloud metadata service. The
 * check runs on the addresses a name resolves to when an integration is saved, and again on the
 * address actually connected to at every request (a DNS answer can change in between).
 *
 * Address classes come from ipaddr.js. An IPv6 address that carries an IPv4 address (mapped,
 * compatible, SIIT, NAT64, 6to4, Teredo) is judged by that IPv4 address: each of these forms can
 * end up at the IPv4 host, through the kernel, a translator or a relay, so `[::7f00:1]` is as
 * much loopback as `127.0.0.1`.
 */
import { isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface AddressVerdict {
  readonly public: boolean;
  /** "public", or why not, in words that fit after "the address is ...". */
  readonly why: string;
}

/**
 * ipaddr.js range names that are public. Anything else it names, including a range a later
 * version adds, is refused: a new name marks a special purpose, and failing closed is the safe way.
 */
const PUBLIC_V4 = new Set(['unicast', 'as112', 'amt']);
const PUBLIC_V6 = new Set(['unicast', 'as112v6', 'amt']);

const RANGE_WORDS: Readonly<Record<string, string>> = {
  unspecified: 'unspecified', broadcast: 'broadcast', multicast: 'multicast', linkLocal: 'link-local', loopback: 'loopback',
  carrierGradeNat: 'shared address space (carrier-grade NAT)', private: 'private', reserved: 'reserved (documentation, benchmarking or future use)',
  uniqueLocal: 'unique-local', deprecatedSiteLocal: 'site-local', discard: 'the discard prefix 100::/64', benchmarking: 'benchmarking',
  deprecatedOrchid: 'an ORCHID identifier, not routable', orchid2: 'an ORCHIDv2 identifier, not routable',
  droneRemoteIdProtocolEntityTags: 'a drone remote ID tag, not routable', segmentRouting: 'a segment routing SID',
};

const words = (range: string) => RANGE_WORDS[range] ?? `special-purpose (${range})`;

function v4From(bytes: readonly number[]): ipaddr.IPv4 {
  return new ipaddr.IPv4([...bytes]);
}

const PUBLIC: AddressVerdict = { public: true, why: 'public' };

function classifyV4(ip: ipaddr.IPv4): AddressVerdict {
  const range = ip.range();
  return PUBLIC_V4.has(range) ? PUBLIC : { public: false, why: words(range) };
}

/** The IPv4 addresses an IPv6 address carries, with the name of its form; none for plain IPv6. */
function embedded(ip: ipaddr.IPv6): { form: string; v4: Array<{ role?: string; ip: ipaddr.IPv4 }> } | undefined {
  const p = ip.parts;
  const b = ip.toByteArray();
  const last = v4From(b.slice(12, 16));
  const zero = (from: number, to: number) => p.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && p[5] === 0xffff) return { form: 'an IPv4-mapped IPv6 address (::ffff:0:0/96)', v4: [{ ip: last }] };
  if (zero(0, 4) && p[4] === 0xffff && p[5] === 0) return { form: 'an SIIT IPv4-translated IPv6 address (::ffff:0:0:0/96)', v4: [{ ip: last }] };
  // :: and ::1 are in ::/96 too, but classifyV6 has already refused them as IPv6's own.
  if (zero(0, 6)) return { form: 'an IPv4-compatible IPv6 address (::/96)', v4: [{ ip: last }] };
  if (p[0] === 0x64 && p[1] === 0xff9b && zero(2, 6)) return { form: 'a NAT64 IPv6 address (64:ff9b::/96)', v4: [{ ip: last }] };
  if (p[0] === 0x2002) return { form: 'a 6to4 IPv6 address (2002::/16)', v4: [{ ip: v4From(b.slice(2, 6)) }] };
  if (p[0] === 0x2001 && p[1] === 0) {
    return {
      form: 'a Teredo IPv6 address (2001::/32)',
      // The client's address is stored inverted (RFC 4380), so that NATs do not rewrite it.
      v4: [{ role: 'server', ip: v4From(b.slice(4, 8)) }, { role: 'client', ip: v4From(b.slice(12, 16).map((x) => x ^ 0xff)) }],
    };
  }
  return undefined;
}

function classifyV6(ip: ipaddr.IPv6): AddressVerdict {
  // A zone only means something for a scoped (link-local) address: never a route to the internet.
  if (ip.zoneId !== undefined && ip.zoneId !== '') return { public: false, why: `scoped to the interface zone ${ip.zoneId}` };
  const p = ip.parts;
  // RFC 8215's local-use translation prefix: a network's own translator, not globally reachable,
  // and where in it the IPv4 sits (/48 to /96) is that network's choice, so it is refused whole.
  if (p[0] === 0x64 && p[1] === 0xff9b && p[2] === 1) {
    return { public: false, why: 'in the local-use NAT64 prefix 64:ff9b:1::/48, which is not globally reachable' };
  }
  const range = String(ip.range());
  if (range === 'unspecified' || range === 'loopback') return { public: false, why: words(range) };
  const carried = embedded(ip);
  if (carried !== undefined) {
    for (const { role, ip: v4 } of carried.v4) {
      const verdict = classifyV4(v4);
      if (!verdict.public) return { public: false, why: `${carried.form} of ${role === undefined ? '' : `${role} `}${v4.toString()}, which is ${verdict.why}` };
    }
    return PUBLIC;
  }
  if (!PUBLIC_V6.has(range)) return { public: false, why: words(range) };
  // Every global unicast address is in 2000::/3; the rest of the space is unassigned.
  if ((p[0] & 0xe000) !== 0x2000) return { public: false, why: 'outside the global unicast range 2000::/3' };
  return PUBLIC;
}

/** Whether an IP address is public, and if not, why (its class, or the form and class of the IPv4 it carries). */
export function classifyAddress(address: string): AddressVerdict {
  const family = isIP(address);
  if (family === 0) return { public: false, why: 'not an IP address' };
  try {
    return family === 4 ? classifyV4(ipaddr.IPv4.parse(address)) : classifyV6(ipaddr.IPv6.parse(address));
  } catch {
    // Node and ipaddr.js disagree on the syntax: refuse what cannot be classified.
    return { public: false, why: 'not an address the egress guard can classify' };
  }
}

/** Whether an IP address is public (not loopback, private, link-local, shared, unspecified, ...). */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address).public;
}

export class EgressForbiddenError extends Error {
  readonly code = 'EGRESS_FORBIDDEN';
}

const OPT_OUT = 'an operator can allow private ones with the allow_private_egress setting or METERWAY_ALLOW_PRIVATE_EGRESS=1';

/** "::7f00:1 (an IPv4-compatible ... which is loopback)" for each refused address. */
function describeRefused(addresses: readonly string[]): string[] {
  return addresses.flatMap((a) => {
    const v = classifyAddress(a);
    return v.public ? [] : [`${a} (${v.why})`];
  });
}

/** Resolves a host and refuses it unless every address is public. Returns the addresses. */
export async function checkHost(host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  const literal = isIP(bare) !== 0;
  const addresses: string[] = literal ? [bare] : await new Promise<string[]>((resolve, reject) =>
    dnsLookup(bare, { all: true }, (err, list) => (err ? reject(err) : resolve(list.map((a) => a.address)))),
  );
  const forbidden = describeRefused(addresses);
  if (addresses.length === 0 || forbidden.length > 0) {
    const what = addresses.length === 0 ? `${host} resolves to no address` : literal ? `${host} is a non-public address: ${forbidden.join(', ')}` : `${host} resolves to a non-public address: ${forbidden.join(', ')}`;
    throw new EgressForbiddenError(`${what}; integrations may only reach public addresses (${OPT_OUT})`);
  }
  return addresses;
}

/** Why a literal address in a URL is refused at request time, or undefined when it is public. */
export function refusedLiteral(address: string): string | undefined {
  const v = classifyAddress(address);
  return v.public ? undefined : `${address} is a non-public address (${v.why}); integrations may only reach public addresses`;
}

/** A `lookup` for http(s).request that refuses non-public addresses at connect time. */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, list) => {
    if (err) return callback(err, '', 0);
    const addresses = list as Array<{ address: string; family: number }>;
    const bad = describeRefused(addresses.map((a) => a.address));
    if (bad.length > 0 || addresses.length === 0) {
      return callback(new EgressForbiddenError(`${hostname} resolved to a non-public address: ${bad.join(', ') || 'none'}; refused by the egress guard`), '', 0);
    }
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
};
