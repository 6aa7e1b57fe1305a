import { RerouteError } from '../errors/reroute-error';
import { fixtureManifest } from '../../test/support/plan-fixtures';
import type { Plan } from '../plan/plan-types';
import type { PreflightCheck } from '../preflight/preflight-types';
import { planEnablesRuleset, preflightContext, refuseOnFailedChecks, validateSkips } from './preflight';

describe('preflight in the application layer', () => {
  test('the command list is derived from the shipped agent, probe and host-ops: their commands, not their functions or ash builtins', () => {
    const ctx = preflightContext(fixtureManifest(2));
    const names = ctx.required.map((c) => c.name);
    for (const n of ['awk', 'wget', 'esxcfg-route', 'esxcli', 'ps', 'sha256sum', 'dd', 'vmware', '/sbin/auto-backup.sh'])
      expect(names).toContain(n);
    for (const n of ['run_bounded', 'zr_die', 'emit_capped', 'printf', 'kill', '[', 'command']) expect(names).not.toContain(n);
    expect(ctx.required.find((c) => c.name === 'wget')?.usedBy).toContain('agent');
    expect(ctx.required.find((c) => c.name === 'cut')?.usedBy).toEqual(['host-ops']);
    expect(ctx.required.find((c) => c.name === 'ssh')?.optional).toBeDefined(); // rest source: ssh is not needed
    expect(ctx.scvms).toEqual([
      { node: 'node-1', storageIp: expect.any(String) },
      { node: 'node-2', storageIp: expect.any(String) },
    ]);
  });

  test('the agent ssh user is what the rendered agent conf says (SSH_USER), so the SMTX OS 5.1.2 rule follows the agent', () => {
    const ctx = preflightContext(fixtureManifest(1));
    expect(typeof ctx.agentSshUser).toBe('string');
    expect(ctx.agentSshUser.length).toBeGreaterThan(0);
  });

  test("the firewall warning follows the plan: only a firewall-ruleset action enabling the session source's ruleset on that node counts", () => {
    const plan = {
      hosts: [
        {
          node: 'node-1',
          host: 'esxi',
          actions: [
            {
              op: 'firewall-ruleset',
              ruleset: 'httpClient',
              reason: 'x',
              steps: ['enabled=true', 'add=10.20.0.101'],
              before: { enabled: false, allowedAll: true, allowedIps: [] },
            },
          ],
        },
      ],
    } as unknown as Plan;
    expect(planEnablesRuleset(plan, 'node-1', 'httpClient')).toBe(true);
    expect(planEnablesRuleset(plan, 'node-1', 'sshClient')).toBe(false);
    expect(planEnablesRuleset(plan, 'node-2', 'httpClient')).toBe(false);
    expect(planEnablesRuleset(undefined, 'node-1', 'httpClient')).toBe(false);
  });

  test('apply refuses with PREFLIGHT_FAILED naming host and check, with the fix and the override', () => {
    const fail: PreflightCheck = {
      node: 'node-2',
      host: 'node-2/esxi',
      name: 'secure-boot',
      status: 'fail',
      detail: 'UEFI Secure Boot is on',
      fix: 'Turn it off.',
    };
    let err: unknown;
    try {
      refuseOnFailedChecks([fail], []);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RerouteError);
    expect(err).toMatchObject({
      code: 'PREFLIGHT_FAILED',
      message: expect.stringContaining('node-2/esxi secure-boot: UEFI Secure Boot is on'),
      fix: expect.stringContaining('Turn it off. Or override with --skip-check secure-boot'),
    });
    expect(() => refuseOnFailedChecks([fail], ['secure-boot'])).not.toThrow();
  });

  test('--skip-check takes only known check names', () => {
    expect(validateSkips(['secure-boot', 'clock'])).toEqual(['secure-boot', 'clock']);
    expect(() => validateSkips(['secureboot'])).toThrow(
      expect.objectContaining({ code: 'USAGE', fix: expect.stringContaining('secure-boot') }),
    );
  });
});
