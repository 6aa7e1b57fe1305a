import { formatIpv4, hasHostBits, isNetworkOrBroadcast, netContains, netsOverlap, parseCidr, parseIpv4, reservedKind } from './ipv4-net';

describe('ipv4-net', () => {
  it('parses dotted addresses and rejects anything else without throwing', () => {
    expect(parseIpv4('10.20.0.11')).toBe(0x0a14000b);
    expect(formatIpv4(parseIpv4('255.255.255.255')!)).toBe('255.255.255.255');
    for (const bad of ['10.20.0', '10.20.0.256', '010.1.1.1', ' 10.1.1.1', 42, null, undefined]) expect(parseIpv4(bad)).toBeUndefined();
  });

  it('answers containment and overlap for CIDRs', () => {
    const net = parseCidr('10.20.0.0/24')!;
    expect(netContains(net, parseIpv4('10.20.0.200')!)).toBe(true);
    expect(netContains(net, parseIpv4('10.20.1.1')!)).toBe(false);
    expect(netsOverlap(parseCidr('192.168.0.0/16')!, parseCidr('192.168.33.0/24')!)).toBe(true);
    expect(netsOverlap(parseCidr('10.10.0.0/24')!, parseCidr('10.20.0.0/24')!)).toBe(false);
    expect(netContains(parseCidr('0.0.0.0/0')!, parseIpv4('8.8.8.8')!)).toBe(true);
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
  });

  it('spots host bits, network/broadcast addresses and reserved ranges', () => {
    expect(hasHostBits('10.20.0.7/24')).toBe(true);
    expect(hasHostBits('10.20.0.0/24')).toBe(false);
    const net = parseCidr('10.20.0.0/24')!;
    expect(isNetworkOrBroadcast(net, parseIpv4('10.20.0.255')!)).toBe(true);
    expect(isNetworkOrBroadcast(net, parseIpv4('10.20.0.0')!)).toBe(true);
    expect(isNetworkOrBroadcast(net, parseIpv4('10.20.0.1')!)).toBe(false);
    expect(reservedKind(parseIpv4('127.0.0.1')!)).toMatch(/loopback/);
    expect(reservedKind(parseIpv4('224.0.0.1')!)).toMatch(/multicast/);
    expect(reservedKind(parseIpv4('10.0.0.1')!)).toBeUndefined();
  });
});
