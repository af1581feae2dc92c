import { describe, expect, it } from 'vitest';
import { checkHost, classifyAddress, EgressForbiddenError, isPublicAddress } from './egress.js';

/** 2001:0:SSSS:SSSS:0:0:CCCC:CCCC with the client IPv4 stored inverted, as Teredo does. */
function teredo(server: string, client: string): string {
  const hex = (v4: string, invert: boolean) => {
    const n = v4.split('.').reduce((a, o) => (a << 8) | Number(o), 0) >>> 0;
    const v = invert ? (n ^ 0xffffffff) >>> 0 : n;
    return `${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
  };
  return `2001:0:${hex(server, false)}:0:0:${hex(client, true)}`;
}

describe('isPublicAddress', () => {
  it.each([
    // IPv4 classes
    '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '255.255.255.255', '240.0.0.1', '192.0.0.8', '192.0.2.1', '198.18.0.1',
    '198.51.100.7', '203.0.113.9', '192.88.99.1',
    // IPv6 classes
    '::', '::1', 'fe80::1', 'febf::1', 'fd00::1', 'fc00::1', 'ff02::1', 'ff0e::1', 'fec0::1', '100::1', '2001:db8::1', '2001:2::1',
    '2001:10::1', '2001:20::1', '2001:30::1', '3fff::1', '5f00::1', '4000::1', 'e000::1', 'fe80::1%eth0', '2606:4700::1111%eth0',
    // IPv4-compatible ::/96
    '::127.0.0.1', '::7f00:1', '::a9fe:a9fe', '::169.254.169.254', '::a00:1', '::c0a8:101', '0:0:0:0:0:0:7f00:1', '::0.0.0.2',
    // IPv4-mapped ::ffff:0:0/96
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::ffff:10.0.0.1', '0:0:0:0:0:ffff:7f00:1', '::ffff:0.0.0.0',
    // SIIT ::ffff:0:0:0/96
    '::ffff:0:7f00:1', '::ffff:0:127.0.0.1', '::ffff:0:a9fe:a9fe', '::ffff:0:c0a8:101',
    // NAT64, the well-known prefix 64:ff9b::/96
    '64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::a00:1', '64:ff9b::ac10:1',
    // NAT64, the local-use prefix 64:ff9b:1::/48 (not globally reachable), whatever it embeds
    '64:ff9b:1::7f00:1', '64:ff9b:1:7f00:0:100::', '64:ff9b:1::808:808', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff',
    // 6to4 2002::/16, the IPv4 in bits 16 to 48
    '2002:7f00:1::1', '2002:a9fe:a9fe::1', '2002:c0a8:101::1', '2002:a00:1::', '2002::1',
    // Teredo 2001::/32: a refused server (bits 32 to 64) or client (last 32 bits, inverted)
    teredo('8.8.8.8', '127.0.0.1'), teredo('8.8.8.8', '169.254.169.254'), teredo('10.0.0.1', '8.8.8.8'), teredo('192.168.1.1', '1.1.1.1'),
    '2001:0:4136:e378:8000:63bf:3fff:fdd2', // RFC 4380's own example: client 192.0.2.45, documentation space
    // not addresses
    'localhost', '', '1.2.3', '::g',
  ])('%s is refused', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.255.0.1', '192.0.1.1', '2606:4700::1111', '2001:4860:4860::8888',
    '64:ff9b::808:808', '64:ff9b::8.8.8.8', '2002:0808:0808::1', '2002:101:101::', '::ffff:8.8.8.8', '::ffff:0:808:808',
    '::808:808', teredo('8.8.8.8', '1.1.1.1'), '2001:4:112::1', '2620:4f:8000::1', '192.31.196.1',
  ])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('classifyAddress', () => {
  it('says which form an address is and what its IPv4 part is', () => {
    expect(classifyAddress('::7f00:1')).toEqual({ public: false, why: 'an IPv4-compatible IPv6 address (::/96) of 127.0.0.1, which is loopback' });
    expect(classifyAddress('::ffff:a9fe:a9fe').why).toBe('an IPv4-mapped IPv6 address (::ffff:0:0/96) of 169.254.169.254, which is link-local');
    expect(classifyAddress('::ffff:0:a00:1').why).toBe('an SIIT IPv4-translated IPv6 address (::ffff:0:0:0/96) of 10.0.0.1, which is private');
    expect(classifyAddress('64:ff9b::a9fe:a9fe').why).toBe('a NAT64 IPv6 address (64:ff9b::/96) of 169.254.169.254, which is link-local');
    expect(classifyAddress('64:ff9b:1::808:808').why).toMatch(/^in the local-use NAT64 prefix 64:ff9b:1::\/48/);
    expect(classifyAddress('2002:c0a8:101::1').why).toBe('a 6to4 IPv6 address (2002::/16) of 192.168.1.1, which is private');
    expect(classifyAddress(teredo('8.8.8.8', '127.0.0.1')).why).toBe('a Teredo IPv6 address (2001::/32) of client 127.0.0.1, which is loopback');
    expect(classifyAddress(teredo('10.0.0.1', '8.8.8.8')).why).toBe('a Teredo IPv6 address (2001::/32) of server 10.0.0.1, which is private');
    expect(classifyAddress('100.64.0.1').why).toBe('shared address space (carrier-grade NAT)');
    expect(classifyAddress('fd12::1').why).toBe('unique-local');
    expect(classifyAddress('4000::1').why).toBe('outside the global unicast range 2000::/3');
    expect(classifyAddress('2606:4700::1111')).toEqual({ public: true, why: 'public' });
    expect(classifyAddress('64:ff9b::808:808')).toEqual({ public: true, why: 'public' });
  });
});

describe('checkHost', () => {
  it('refuses a disguised literal with the form and the reason, and returns a public one', async () => {
    const err = await checkHost('[::7f00:1]').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressForbiddenError);
    expect((err as Error).message).toContain('::7f00:1 (an IPv4-compatible IPv6 address (::/96) of 127.0.0.1, which is loopback)');
    expect(await checkHost('[2002:808:808::1]')).toEqual(['2002:808:808::1']);
  });

  it('checks what a name resolves to', async () => {
    const err = await checkHost('localhost').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressForbiddenError);
    expect((err as Error).message).toMatch(/loopback/);
  });
});
