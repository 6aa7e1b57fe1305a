/**
 * The release tarball (scripts/package-linux-x64.sh) runs on a machine with
 * no Node.js install and no node_modules: it is unpacked into an empty temp
 * folder and run with a bare environment, through its own launcher and node.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Lab } from '../../lab/lab';
import { testLabName } from '../../lab/test-support';
import { describeLab } from '../support/describe-lab';
import { runCli, startCli, type CliOptions } from '../support/run-cli';

const ROOT = path.join(__dirname, '..', '..');
let work: string;
let release: string;

/** The release's own launcher with a bare environment: no PATH entry with node, no NODE_PATH, HOME elsewhere. */
function releaseCli(extra: CliOptions = {}): CliOptions {
  return {
    bin: path.join(release, 'bin', 'reroute'),
    env: { PATH: '/usr/bin:/bin', HOME: work },
    cwd: release,
    timeoutMs: 60_000,
    ...extra,
  };
}
const reroute = (args: string[]) => runCli(args, releaseCli());

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-package-'));
  const out = path.join(work, 'out');
  const tarball = execFileSync(path.join(ROOT, 'scripts', 'package-linux-x64.sh'), ['--out', out], { encoding: 'utf8', timeout: 240_000 })
    .trim()
    .split('\n')
    .pop() as string;
  const unpack = path.join(work, 'opt');
  fs.mkdirSync(unpack);
  execFileSync('tar', ['-C', unpack, '-xzf', tarball]);
  const [name] = fs.readdirSync(unpack);
  release = path.join(unpack, name as string);
}, 300_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the packaged release', () => {
  it('carries the node binary, one bundled JS file and the shipped shell files, and no node_modules', () => {
    expect(fs.existsSync(path.join(release, 'node', 'bin', 'node'))).toBe(true);
    expect(fs.existsSync(path.join(release, 'lib', 'cli', 'reroute.js'))).toBe(true);
    for (const f of [
      'esxi/agent/reroute-loop.sh',
      'esxi/probe/probe.sh',
      'esxi/apply/host-ops.sh',
      'esxi/preflight/preflight.sh',
      'schemas/reroute-cluster.schema.json',
      'deploy/systemd/reroute-watch.service',
      'deploy/prometheus/rules/reroute-alerts.yml',
      'deploy/prometheus/tests/reroute-alerts.test.yml',
      'deploy/grafana/zbs-reroute-dashboard.json',
    ])
      expect(fs.existsSync(path.join(release, f))).toBe(true);
    const all = execFileSync('find', [release, '-name', 'node_modules', '-o', '-name', '*.test.ts', '-o', '-name', 'test-shims'], {
      encoding: 'utf8',
    }).trim();
    expect(all).toBe('');
    let dir = release;
    while (dir !== path.dirname(dir)) {
      expect(fs.existsSync(path.join(dir, 'node_modules'))).toBe(false);
      dir = path.dirname(dir);
    }
  });

  it('validates a manifest, and reports a broken one with file:line', async () => {
    const ok = await reroute(['validate', '-f', 'examples/cluster-3node.yaml']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/valid \(cluster prod-a, 3 node\(s\)/);
    const broken = path.join(work, 'broken.yaml');
    fs.writeFileSync(
      broken,
      fs.readFileSync(path.join(release, 'examples', 'cluster-3node.yaml'), 'utf8').replace('10.20.0.11', '10.20.0.999'),
    );
    const bad = await reroute(['validate', '-f', broken]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+:`));
  });

  it('plans offline from a saved observation', async () => {
    const snap = path.join(work, 'snap.json');
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'snapshots', 'fresh-3node.json'), snap);
    const r = await reroute(['--state', path.join(work, 'state'), 'plan', '-f', 'examples/cluster-3node.yaml', '--observed', snap]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Plan: \d+ to add/);
  });

  it('offers watch and discover', async () => {
    const r = await reroute(['--help']);
    expect(r.stdout).toMatch(/watch \[options\]/);
    expect(r.stdout).toMatch(/discover \[options\]/);
  });
});

describeLab('the packaged release in the lab controller namespace (no node_modules, real SSH)', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.start({ nodes: 1, name: testLabName('pkg'), services: false });
  }, 600_000);
  afterAll(async () => {
    await lab?.stop();
  }, 120_000);

  it('validates and plans against the lab hosts over SSH', async () => {
    const m = path.join(work, 'lab.yaml');
    fs.writeFileSync(m, lab.manifest({ clusterName: 'pkg' }));
    const run = (args: string) => runCli(args, releaseCli({ netns: lab.controller.ns, cwd: work, timeoutMs: 120_000 }));
    const v = await run(`validate -f ${m}`);
    expect({ code: v.code, out: v.stdout }).toEqual({ code: 0, out: expect.stringContaining('valid (cluster pkg, 1 node(s)') });
    const p = await run(`--state ${path.join(work, 'lab-state')} plan -f ${m} --detailed-exitcode`);
    expect({ code: p.code, err: p.stderr }).toEqual({ code: 2, err: '' });
    expect(p.stdout).toContain('first contact, pinned host key SHA256:');
    // With the REST session source (the default) the SCVM gets no key entry: its only step is the
    // ZBS session's ESXi client IPs (a change); the ESXi host gets the agent (an add).
    expect(p.stdout).toMatch(/Plan: 1 to add, 1 to change, 0 to destroy/);
  }, 300_000);

  it('runs watch (bundled chokidar, winston, prom-client): reports the uninstalled node, serves metrics, then stops on SIGTERM with exit 0', async () => {
    const m = path.join(work, 'lab.yaml');
    const stateDir = path.join(work, 'lab-state');
    const cli = startCli(
      ['--state', stateDir, 'watch', '-f', m, '--interval', '2', '--metrics-listen', '127.0.0.1:9464'],
      releaseCli({ netns: lab.controller.ns, cwd: work }),
    );
    let exitCode: number | null | undefined;
    void cli.done.then((c) => (exitCode = c));
    try {
      const deadline = Date.now() + 60_000;
      while (!/drift: agent: install agent/.test(cli.output()) && Date.now() < deadline && exitCode === undefined)
        await new Promise((r) => setTimeout(r, 250));
      expect(cli.output()).toMatch(/watching 1 node\(s\)/);
      expect(cli.output()).toContain('metrics at http://127.0.0.1:9464/metrics');
      expect(cli.output()).toMatch(/node-1 \(esxi\) drift: agent: install agent/);
    } finally {
      exitCode = await cli.stop('SIGTERM');
    }
    expect(exitCode).toBe(0);
    const log = fs
      .readFileSync(path.join(stateDir, 'watch.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(log.map((e) => e.event)).toEqual(expect.arrayContaining(['watch-started', 'drift-found', 'watch-stopped']));
  }, 120_000);
});
