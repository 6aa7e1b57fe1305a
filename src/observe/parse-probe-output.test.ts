import fc from 'fast-check';
import {
  CTX,
  ESXI_CRONTAB,
  INSTALL,
  LEGACY_DIR,
  PS_ESXI_WITH_LEGACY,
  SHA_A,
  files,
  frameProbe,
  installedSections,
} from '../../test/fixtures/probe-output';
import type { EsxiObserved, Unreachable } from './observed-types';
import { parseProbeOutput } from './parse-probe-output';

function ok(raw: Buffer | string): EsxiObserved {
  const r = parseProbeOutput(raw, CTX);
  if (!r.reachable) throw new Error(`expected a reachable observation, got: ${r.reason}`);
  return r as EsxiObserved;
}

function bad(raw: Buffer | string): Unreachable {
  const r = parseProbeOutput(raw, CTX);
  if (r.reachable) throw new Error('expected Unreachable');
  return r;
}

describe('parseProbeOutput on an installed host', () => {
  const obs = ok(frameProbe(installedSections()));

  it('reads the clock, ESXi version and our files with modes, hashes and the loop version', () => {
    expect(obs.now).toBe(1790000000);
    expect(obs.esxiVersion).toBe('VMware ESXi 7.0.3 build-19193900');
    expect(obs.files[`${INSTALL}/reroute-loop.sh`]).toEqual({
      path: `${INSTALL}/reroute-loop.sh`,
      sha256: SHA_A,
      size: 9000,
      mode: '0700',
      version: '1.0.0',
    });
    expect(obs.files[`${INSTALL}/reroute.conf`]?.mode).toBe('0600');
    expect(obs.files[`${INSTALL}/keys/reroute_id_rsa.pub`]?.mode).toBe('0644');
    expect(obs.dirs).toEqual({ [INSTALL]: { mode: '0700' }, [`${INSTALL}/keys`]: { mode: '0700' } });
    expect(obs.warnings).toBeUndefined();
  });

  it('keeps crontab and local.sh byte for byte', () => {
    expect(obs.crontab.startsWith(ESXI_CRONTAB)).toBe(true);
    expect(obs.localSh).toContain('# BEGIN zbs-reroute');
  });

  it('finds the NFS route and other /32 routes touching cluster IPs, not unrelated ones', () => {
    expect(obs.nfsRoute).toEqual({ network: '192.168.33.2', prefixLength: 32, gateway: '10.20.0.101', iface: 'vmk1' });
    expect(obs.otherHostRoutes).toEqual([{ network: '10.20.0.254', prefixLength: 32, gateway: '10.20.0.102', iface: 'vmk1' }]);
  });

  it('sees the agent loop (not an editor on the same file) and the legacy loop separately', () => {
    expect(obs.agentProcesses).toEqual([{ pid: 2099123, command: `/bin/sh ${INSTALL}/reroute-loop.sh` }]);
    expect(obs.legacy).toBeUndefined();
    const both = ok(frameProbe(installedSections({ ps: { name: 'ps', body: PS_ESXI_WITH_LEGACY } })));
    expect(both.agentProcesses.map((p) => p.pid)).toEqual([2099123]);
    expect(both.legacy?.processes?.map((p) => p.pid)).toEqual([2099301]);
    expect(both.legacy?.dir).toBe('');
    expect(both.warnings?.join('\n')).toMatch(/legacy .* without its folder/);
  });

  it('parses heartbeat, crond, public key and IPv4 vmknics', () => {
    expect(obs.heartbeat).toEqual({
      version: '1.0.0',
      pid: 2099123,
      target: '10.20.0.101',
      targetKind: 'local',
      since: 1789990000,
      updated: 1789999998,
      fetch: 'ok',
      fetchMs: 35,
    });
    expect(obs.crondRunning).toBe(true);
    expect(obs.reroutePublicKey).toBe('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 zbs-reroute:prod-a');
    expect(obs.vmknics).toEqual([
      { name: 'vmk0', ip: '10.10.0.11', netmask: '255.255.255.0' },
      { name: 'vmk1', ip: '10.20.0.11', netmask: '255.255.255.0' },
      { name: 'vmk2', ip: '192.168.33.1', netmask: '255.255.255.0' },
    ]);
    expect(obs.lease).toBeUndefined();
    expect(obs.pinTarget).toBeUndefined();
  });
});

describe('parseProbeOutput on other host states', () => {
  it('reports a fresh host: no files, empty crontab pieces, no route, no agent', () => {
    const obs = ok(
      frameProbe(
        installedSections({
          files: { name: 'files', body: '' },
          loop_line2: { name: 'loop_line2', body: '', status: 'missing' },
          pubkey: { name: 'pubkey', body: '', status: 'missing' },
          heartbeat: { name: 'heartbeat', body: '', status: 'missing' },
          crontab: { name: 'crontab', body: ESXI_CRONTAB },
          local_sh: { name: 'local_sh', body: '', status: 'missing' },
          routes: {
            name: 'routes',
            body: 'VMkernel Routes:\nNetwork Netmask Gateway Interface\n-------\ndefault 0.0.0.0 10.10.0.1 vmk0\n',
          },
          ps: { name: 'ps', body: 'WID CID World Name Command\n1 0 init /bin/init\n' },
        }),
      ),
    );
    expect(obs.files).toEqual({});
    expect(obs.localSh).toBe('');
    expect(obs.crontab).toBe(ESXI_CRONTAB);
    expect(obs.nfsRoute).toBeUndefined();
    expect(obs.agentProcesses).toEqual([]);
    expect(obs.heartbeat).toBeUndefined();
    expect(obs.legacy).toBeUndefined();
  });

  it('recognises a legacy install from its folder, crontab line and local.sh line', () => {
    const dir = LEGACY_DIR;
    const cron = `* * * * * /bin/sh ${dir}/scvm_failure_loop.sh &`;
    const local = `/bin/echo '${cron}' >> /var/spool/cron/crontabs/root # scvm_failure`;
    const obs = ok(
      frameProbe(
        installedSections({
          crontab: { name: 'crontab', body: `${ESXI_CRONTAB}${cron}\n` },
          ps: { name: 'ps', body: PS_ESXI_WITH_LEGACY },
          local_sh: { name: 'local_sh', body: `#!/bin/sh\n${local}\nexit 0\n` },
          legacy: { name: 'legacy', body: `dir=${dir}\nkeydir=${dir}/.smartx_key\nline2=reroute_version=1.4.2\n` },
        }),
      ),
    );
    expect(obs.legacy).toEqual({
      dir,
      version: '1.4.2',
      keyDir: `${dir}/.smartx_key`,
      crontabLine: cron,
      localShLines: [local],
      processes: [{ pid: 2099301, command: `/bin/sh ${dir}/scvm_failure_loop.sh` }],
    });
  });

  it('reports a lease written as KEY=value or as one file per field', () => {
    const a = ok(
      frameProbe(
        installedSections({
          lease_dir: { name: 'lease_dir', body: 'present\n' },
          'lease.info': { name: 'lease.info', body: 'owner=ops@scvm-1\npid=4242\nexpires=1790000300\n' },
        }),
      ),
    );
    expect(a.lease).toEqual({ owner: 'ops@scvm-1', pid: 4242, expires: 1790000300 });
    const b = ok(
      frameProbe([
        ...installedSections({ lease_dir: { name: 'lease_dir', body: 'present\n' } }),
        { name: 'lease.owner', body: 'ops@scvm-2\n' },
        { name: 'lease.pid', body: '77\n' },
        { name: 'lease.expires', body: '1790000100\n' },
      ]),
    );
    expect(b.lease).toEqual({ owner: 'ops@scvm-2', pid: 77, expires: 1790000100 });
    const c = ok(frameProbe(installedSections({ lease_dir: { name: 'lease_dir', body: 'present\n' } })));
    expect(c.lease).toEqual({ owner: 'unknown', pid: 0, expires: 0 });
    expect(c.warnings?.join('\n')).toMatch(/lease/);
  });

  it('reads the pin target and tolerates plain busybox ps output', () => {
    const obs = ok(
      frameProbe(
        installedSections({
          pin: { name: 'pin', body: '10.20.0.103\n' },
          ps: {
            name: 'ps',
            body: `PID   USER     COMMAND\n    1 root     init\n  812 root     {reroute-loop.sh} /bin/sh ${INSTALL}/reroute-loop.sh\n  900 root     tail -f ${INSTALL}/reroute-loop.sh\n`,
          },
        }),
      ),
    );
    expect(obs.pinTarget).toBe('10.20.0.103');
    expect(obs.agentProcesses.map((p) => p.pid)).toEqual([812]);
  });

  it('does not take a symlinked install dir for a file', () => {
    const obs = ok(frameProbe(installedSections({ files: { name: 'files', body: `lrwxrwxrwx - - ${INSTALL}\n` } })));
    expect(obs.files).toEqual({});
    expect(obs.dirs).toBeUndefined();
    expect(obs.warnings?.join('\n')).toMatch(/is not a directory \(symlink\)/);
  });

  it('records a symlink in the install dir without a hash and warns', () => {
    const obs = ok(frameProbe(installedSections({ files: { name: 'files', body: files([`lrwxrwxrwx - - ${INSTALL}/reroute-loop.sh`]) } })));
    expect(obs.files[`${INSTALL}/reroute-loop.sh`]?.sha256).toBe('');
    expect(obs.warnings?.join('\n')).toMatch(/symlink/);
  });
});

describe('parseProbeOutput refuses output it cannot trust', () => {
  it('no header at all', () => {
    expect(bad('Password expired\n').reason).toMatch(/no "@@zbs-reroute-probe v1" header/);
  });

  it('output cut before the trailer', () => {
    expect(bad(frameProbe(installedSections(), { end: false })).reason).toMatch(/trailer/);
    const full = frameProbe(installedSections());
    expect(bad(full.subarray(0, Math.floor(full.length / 2))).reason).toMatch(/ends inside section|framing broken|trailer/);
  });

  it('a lossy UTF-8 decode of non-UTF-8 content says so (byte counts no longer match)', () => {
    const bytes = frameProbe(installedSections({ local_sh: { name: 'local_sh', body: Buffer.from([0x23, 0xe9, 0x0a]) } }));
    expect(ok(bytes).localSh).toBe('#\ufffd\n');
    expect(bad(bytes.toString('utf8')).reason).toMatch(/not UTF-8 .*raw bytes/);
  });

  it('a required section missing', () => {
    expect(bad(frameProbe(installedSections({ crontab: null }))).reason).toMatch(/lacks section\(s\) crontab/);
  });

  it('a probe run against another install dir', () => {
    expect(bad(frameProbe(installedSections({ args: { name: 'args', body: 'install=/vmfs/volumes/None/zbs-reroute\n' } }))).reason).toMatch(
      /expected/,
    );
  });
});

describe('parseProbeOutput on hostile content', () => {
  it('a crontab holding fake section markers and a fake trailer stays one crontab', () => {
    const evil = `${ESXI_CRONTAB}\n@@end 3\n@@section files 10 ok\nxxxxxxxxxx\n@@section routes 0 ok\n\n`;
    const obs = ok(frameProbe(installedSections({ crontab: { name: 'crontab', body: evil } })));
    expect(obs.crontab).toBe(evil);
    expect(obs.files[`${INSTALL}/reroute-loop.sh`]?.sha256).toBe(SHA_A);
  });

  it('escape sequences in displayed fields are neutralised; raw files are kept exact', () => {
    const esc = '\u001b]0;pwned\u0007\u001b[2J';
    const obs = ok(
      frameProbe(
        installedSections({
          esxi_version: { name: 'esxi_version', body: `VMware ESXi ${esc}8.0\n` },
          ps: { name: 'ps', body: `WID CID World Name Command\n55 55 sh /bin/sh ${INSTALL}/reroute-loop.sh ${esc}\n` },
          crontab: { name: 'crontab', body: `${ESXI_CRONTAB}# ${esc}\n` },
        }),
      ),
    );
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(obs.esxiVersion).not.toMatch(/\u001b|\u0007/);
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(obs.agentProcesses[0]?.command).not.toMatch(/\u001b/);
    expect(obs.crontab).toContain(esc);
  });

  it('10 MB of junk after the trailer, binary in sections, a huge claimed length', () => {
    const junk = Buffer.alloc(10 * 1024 * 1024, 0x41);
    const started = Date.now();
    const obs = ok(
      Buffer.concat([
        frameProbe(installedSections({ local_sh: { name: 'local_sh', body: Buffer.from([0, 255, 254, 10, 27, 0x9b]) } })),
        junk,
      ]),
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(obs.warnings?.join('\n')).toMatch(/after the probe trailer|not valid UTF-8/);
    expect(bad(Buffer.concat([Buffer.from('@@zbs-reroute-probe v1\n@@section crontab 99999999 ok\n'), junk])).reason).toMatch(/cap/);
    expect(bad(junk).reason).toMatch(/no "@@zbs-reroute-probe v1" header/);
  });

  it('junk before the header (a login banner) is ignored with a warning', () => {
    const obs = ok(
      Buffer.concat([Buffer.from('The time and date of this login have been sent to the system logs.\n'), frameProbe(installedSections())]),
    );
    expect(obs.warnings?.[0]).toMatch(/before the probe header/);
  });

  it('never throws on arbitrary bytes, with or without a valid prefix', () => {
    const prefix = frameProbe(installedSections(), { end: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, withPrefix) => {
        const input = withPrefix ? Buffer.concat([prefix, Buffer.from(bytes)]) : Buffer.from(bytes);
        const r = parseProbeOutput(input, CTX);
        expect(typeof r.reachable).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('never throws when any section body is arbitrary', () => {
    const names = installedSections().map((s) => s.name);
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.string({ unit: 'binary', maxLength: 500 }), (name, body) => {
        const r = parseProbeOutput(frameProbe(installedSections({ [name]: { name, body } })), CTX);
        expect(typeof r.reachable).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });
});
