import {
  commandRunsScript,
  lsPermsToOctal,
  netmaskToPrefix,
  parseEsxcfgRouteList,
  parseHeartbeat,
  parsePsOutput,
  parseVmknicList,
} from './esxi-command-output';

describe('parseEsxcfgRouteList', () => {
  it('reads the documented layout, Local Subnet rows and the default route', () => {
    const r = parseEsxcfgRouteList(
      'VMkernel Routes:\nNetwork          Netmask          Gateway          Interface\n10.1.73.0        255.255.255.0    Local Subnet     vmk1\n192.168.33.2     255.255.255.255  10.1.73.104      vmk1\ndefault          0.0.0.0          10.1.71.1        vmk0\n',
    );
    expect(r.items).toEqual([
      { network: '10.1.73.0', prefixLength: 24, gateway: '0.0.0.0', iface: 'vmk1' },
      { network: '192.168.33.2', prefixLength: 32, gateway: '10.1.73.104', iface: 'vmk1' },
      { network: '0.0.0.0', prefixLength: 0, gateway: '10.1.71.1', iface: 'vmk0' },
    ]);
    expect(r.skipped).toEqual([]);
  });

  it('tolerates a dashed ruler, CRLF and the lab shim "-" gateway; skips junk lines', () => {
    const r = parseEsxcfgRouteList(
      'Network Netmask Gateway Interface\r\n------- ------- ------- ---------\r\n10.2.0.0 255.255.0.0 - vmk1\r\ngarbage here\r\n1.2.3.4 255.0.255.0 1.1.1.1 vmk0\n',
    );
    expect(r.items).toEqual([{ network: '10.2.0.0', prefixLength: 16, gateway: '0.0.0.0', iface: 'vmk1' }]);
    expect(r.skipped).toHaveLength(2);
  });
});

describe('netmaskToPrefix', () => {
  it('maps contiguous masks and refuses others', () => {
    expect(netmaskToPrefix('255.255.255.255')).toBe(32);
    expect(netmaskToPrefix('255.255.254.0')).toBe(23);
    expect(netmaskToPrefix('0.0.0.0')).toBe(0);
    expect(netmaskToPrefix('255.0.255.0')).toBeUndefined();
    expect(netmaskToPrefix('256.0.0.0')).toBeUndefined();
  });
});

describe('parsePsOutput', () => {
  it('reads ESXi ps -c by the Command column, even when the world name has spaces', () => {
    const text =
      'WID       CID       World Name                                Command\n2099123   2099123   sh                                        /bin/sh /x/reroute-loop.sh\n2100001   2100001   vmx-vcpu-0:my vm                          /bin/vmx -s x\n';
    expect(parsePsOutput(text).items).toEqual([
      { pid: 2099123, command: '/bin/sh /x/reroute-loop.sh' },
      { pid: 2100001, command: '/bin/vmx -s x' },
    ]);
  });

  it('falls back to counting columns when rows do not line up with the header', () => {
    expect(parsePsOutput('WID CID World Name Command\n5 5 sh /bin/sh /x/reroute-loop.sh\n').items).toEqual([
      { pid: 5, command: '/bin/sh /x/reroute-loop.sh' },
    ]);
  });

  it('reads busybox ps (PID USER [TIME] COMMAND)', () => {
    expect(
      parsePsOutput('PID   USER     TIME  COMMAND\n  1 root      0:00 init\n 42 root      0:01 /bin/sh /x/reroute-loop.sh\n').items,
    ).toEqual([
      { pid: 1, command: 'init' },
      { pid: 42, command: '/bin/sh /x/reroute-loop.sh' },
    ]);
  });
});

describe('commandRunsScript', () => {
  it('matches the loop run by a shell, not editors or greps of it', () => {
    expect(commandRunsScript('/bin/sh /vmfs/volumes/ds/zbs-reroute/reroute-loop.sh', 'reroute-loop.sh')).toBe(true);
    expect(commandRunsScript('busybox sh -x /a/reroute-loop.sh', 'reroute-loop.sh')).toBe(true);
    expect(commandRunsScript('{reroute-loop.sh} /bin/sh /a/reroute-loop.sh', 'reroute-loop.sh')).toBe(true);
    expect(commandRunsScript('vi /a/reroute-loop.sh', 'reroute-loop.sh')).toBe(false);
    expect(commandRunsScript('grep reroute-loop.sh', 'reroute-loop.sh')).toBe(false);
    expect(commandRunsScript('/bin/sh /a/old-reroute-loop.sh.bak', 'reroute-loop.sh')).toBe(false);
  });
});

describe('parseVmknicList', () => {
  it('reads IPv4 rows with spaced port group names and skips IPv6 rows', () => {
    const text =
      'Interface  Port Group/DVPort/Opaque Network        IP Family IP Address      Netmask         Broadcast       MAC Address       MTU     TSO MSS   Enabled Type   NetStack\n' +
      'vmk0       Management Network                      IPv4      10.10.0.11      255.255.255.0   10.10.0.255     00:50:56:01:02:03 1500    65535     true    STATIC defaultTcpipStack\n' +
      'vmk0       Management Network                      IPv6      fe80::1         64                              00:50:56:01:02:03 1500    65535     true    STATIC defaultTcpipStack\n' +
      'vmk1       17                                      IPv4      10.20.0.11      255.255.255.0   10.20.0.255     00:50:56:01:02:04 9000    65535     true    STATIC defaultTcpipStack\n';
    expect(parseVmknicList(text).items).toEqual([
      { name: 'vmk0', ip: '10.10.0.11', netmask: '255.255.255.0' },
      { name: 'vmk1', ip: '10.20.0.11', netmask: '255.255.255.0' },
    ]);
  });
});

describe('parseHeartbeat', () => {
  it('reads every field and defaults optional ones', () => {
    expect(parseHeartbeat("version=1.0.0\npid=9\nupdated=100\ntarget='10.0.0.1'\ntarget_kind=remote-storage\n").heartbeat).toEqual({
      version: '1.0.0',
      pid: 9,
      target: '10.0.0.1',
      targetKind: 'remote-storage',
      since: 0,
      updated: 100,
      fetch: 'fail',
      fetchMs: 0,
    });
  });

  it('names the missing or invalid keys instead of guessing', () => {
    const r = parseHeartbeat('version=$(reboot)\npid=abc\n');
    expect(r.heartbeat).toBeUndefined();
    expect(r.invalid).toEqual(['version', 'pid', 'updated']);
  });
});

describe('lsPermsToOctal', () => {
  it('converts ls -l permission strings including special bits', () => {
    expect(lsPermsToOctal('-rw-------')).toBe('0600');
    expect(lsPermsToOctal('drwx------')).toBe('0700');
    expect(lsPermsToOctal('-rwsr-xr-x')).toBe('4755');
    expect(lsPermsToOctal('drwxrwxrwt')).toBe('1777');
    expect(lsPermsToOctal('-rw-r--r--+')).toBe('0644');
    expect(lsPermsToOctal('garbage')).toBeUndefined();
  });
});
