import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/run-cli';

/**
 * Bad input through the real CLI: every broken manifest in the corpus, run as
 * `reroute validate`, `reroute plan` and `reroute apply --auto-approve`, must
 * exit 1 with `file:line:col` and make no connection attempt at all.
 *
 * How "no connection" is proven, twice over:
 *  - every case runs in one process that counts each net.Socket#connect and
 *    each child process spawn (./connect-counter.ts, test-only; ssh2 and any
 *    other client end in Socket#connect): the count must be zero per case;
 *  - when root, that process runs in a fresh network namespace (`zrb-…`)
 *    holding only `lo`, so even an attempt the counter missed could not reach
 *    a host.
 * A positive control (a valid manifest, `plan`) must register attempts, so a
 * counter that silently counts nothing would fail the test. A small sample
 * also goes through bin/reroute.js itself as separate processes.
 */
jest.setTimeout(300_000);

const REPO = path.resolve(__dirname, '..', '..');
const BROKEN_DIR = path.join(REPO, 'src', 'manifest', 'fixtures', 'broken');
const RUNNER = path.join(__dirname, 'cli-batch-runner.ts');
const COUNTER = path.join(__dirname, 'connect-counter.ts');
// Absolute, because the runs' working directory is the corpus folder.
const TSX = require.resolve('tsx/cjs', { paths: [REPO] });
const isRoot = process.getuid?.() === 0;
const NETNS = `zrb-bm-${process.pid}`;
const CANARY = `/tmp/zrb-canary-${process.pid}`;

interface Case {
  id: string;
  file: string;
  /** `RULE LINE:COL` the message must carry (fixture headers and generated cases). */
  expect: Array<{ rule?: string; line: number; col?: number }>;
  /** Generated from a base that is otherwise valid: an accepted value is a finding. */
  note: string;
}

interface Result {
  id: string;
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

let dir: string;
const cases: Case[] = [];

// A compact valid manifest; each {{slot}} is replaced by a JSON (= YAML double-quoted) value.
const BASE = [
  'apiVersion: zbs-reroute/v1',
  'kind: RerouteCluster',
  'metadata:',
  '  name: {{clusterName}}',
  'spec:',
  '  networks: { storage: 10.20.0.0/24, management: 10.10.0.0/24 }',
  '  install: { dirName: {{dirName}} }',
  '  access:',
  '    esxi: { user: {{esxiUser}}, credential: { passwordEnv: ZRB_TEST_PASSWORD } }',
  '    scvm: { user: {{scvmUser}}, sudo: true, credential: { passwordEnv: ZRB_TEST_PASSWORD } }',
  '  nodes:',
  '    - name: {{node1}}',
  '      esxi: { address: {{esxi1}}, storageVmk: {{vmk}}, storageIp: 10.20.0.11, datastore: {{datastore}} }',
  '      scvm: { managementIp: 10.10.0.101, storageIp: 10.20.0.101 }',
  '    - name: node-2',
  '      esxi: { address: 10.10.0.12, storageVmk: vmk1, storageIp: 10.20.0.12, datastore: datastore1 }',
  '      scvm: { managementIp: 10.10.0.102, storageIp: {{scvm2Storage}} }',
  '',
].join('\n');
const DEFAULTS: Record<string, unknown> = {
  clusterName: 'zrb',
  dirName: 'zbs-reroute',
  esxiUser: 'root',
  scvmUser: 'smartx',
  node1: 'node-1',
  esxi1: '10.10.0.11',
  vmk: 'vmk1',
  datastore: 'datastore1',
  scvm2Storage: '10.20.0.102',
};

function render(overrides: Record<string, unknown>): string {
  const values = { ...DEFAULTS, ...overrides };
  return BASE.replace(/\{\{(\w+)\}\}/g, (_, k: string) => JSON.stringify(values[k]));
}

function lineOf(slot: string): number {
  return BASE.split('\n').findIndex((l) => l.includes(`{{${slot}}}`)) + 1;
}

function add(id: string, file: string, expect: Case['expect'], note = ''): void {
  cases.push({ id, file, expect, note });
}

function write(name: string, content: string | Buffer): string {
  const p = path.join(dir, 'corpus', name);
  fs.writeFileSync(p, content);
  return p;
}

/** A seeded generator so the junk is the same on every run (a failure can be replayed). */
function junk(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function buildCorpus(): void {
  // 1. The validation fixtures, each with its declared rule and position.
  for (const name of fs
    .readdirSync(BROKEN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const file = path.join(BROKEN_DIR, name);
    const text = fs.readFileSync(file, 'latin1');
    const expect = [...text.matchAll(/^# expect: (\S+) (\d+):(\d+)$/gm)].map((m) => ({
      rule: m[1],
      line: Number(m[2]),
      col: Number(m[3]),
    }));
    add(`fixture/${name}`, file, expect);
  }
  add('fixture/several-problems.yaml', path.join(REPO, 'src', 'manifest', 'fixtures', 'several-problems.yaml'), [{ line: 5 }]);

  // 2. Shell metacharacters (and other hostile text) in every value that reaches a remote shell.
  const payloads: Record<string, string> = {
    'dollar-paren': `$(touch ${CANARY})`,
    backticks: `\`touch ${CANARY}\``,
    semicolon: `x;touch ${CANARY}`,
    'single-quote-break': `x' ; touch ${CANARY} ; '`,
    newline: `x\ntouch ${CANARY}`,
    pipe: `x|touch ${CANARY}`,
    'and-and': `x && touch ${CANARY}`,
    'dot-dot': '../../etc',
    'escape-sequence': 'x\u001b[2J\u001b]0;owned\u0007',
  };
  for (const slot of ['clusterName', 'dirName', 'esxiUser', 'scvmUser', 'node1', 'vmk', 'datastore']) {
    for (const [pname, value] of Object.entries(payloads)) {
      add(`value/${slot}/${pname}`, write(`value-${slot}-${pname}.yaml`, render({ [slot]: value })), [{ line: lineOf(slot) }], 'generated');
    }
  }

  // 3. Wrong types and bad addresses where an IP is expected; duplicate addresses.
  const addresses: Record<string, unknown> = {
    number: 123,
    boolean: true,
    null: null,
    list: ['10.10.0.11'],
    map: { ip: '10.10.0.11' },
    'octet-over-255': '10.10.0.300',
    ipv6: '::1',
    'with-prefix': '10.10.0.11/24',
    'leading-space': ' 10.10.0.11',
    hostname: 'esxi-1.example.com',
  };
  for (const [name, value] of Object.entries(addresses)) {
    add(`address/${name}`, write(`address-${name}.yaml`, render({ esxi1: value })), [{ line: lineOf('esxi1') }], 'generated');
  }
  add(
    'duplicate/esxi-address',
    write('dup-esxi.yaml', render({ esxi1: '10.10.0.12' })),
    [{ rule: 'semantic.duplicate-ip', line: 16 }],
    'generated',
  );
  add(
    'duplicate/scvm-storage',
    write('dup-scvm.yaml', render({ scvm2Storage: '10.20.0.101' })),
    [{ rule: 'semantic.duplicate-ip', line: lineOf('scvm2Storage') }],
    'generated',
  );

  // 4. Files that are not manifests at all.
  const file1 = [{ line: 1, col: 1 }];
  add('file/empty', write('empty.yaml', ''), file1);
  add('file/whitespace-only', write('whitespace.yaml', '  \n\n\t\n'), [{ line: 1 }]);
  add('file/document-marker-only', write('marker.yaml', '---\n'), [{ line: 1 }]);
  add('file/too-large', write('huge.yaml', `# ${'x'.repeat(1024 * 1024)}\n`), [{ rule: 'file.too-large', line: 1, col: 1 }]);
  add('file/large-comment-only', write('large-comments.yaml', `${'# filler line of comment text, about fifty bytes\n'.repeat(20_000)}`), [
    { line: 1 },
  ]);
  add(
    'file/huge-scalar',
    write('huge-scalar.yaml', render({ clusterName: 'a'.repeat(500_000) })),
    [{ line: lineOf('clusterName') }],
    'generated',
  );
  add('file/binary-junk', write('junk.yaml', junk(4096, 7)), [{ rule: 'file.binary', line: 1, col: 1 }]);
  add('file/binary-junk-2', write('junk2.bin', junk(100, 99)), [{ rule: 'file.binary', line: 1, col: 1 }]);
  add('file/utf16', write('utf16.yaml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(render({}), 'utf16le')])), [
    { rule: 'file.binary', line: 1, col: 1 },
  ]);
  add('file/nul-in-value', write('nul.yaml', render({}).replace('name: "zrb"', 'name: "zr\u0000b"')), [{ line: 4 }]);
  add('file/gzip-magic', write('gz.yaml', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xff, 0xfe])), [
    { rule: 'file.binary', line: 1, col: 1 },
  ]);
  const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
  add('yaml/deep-nesting', write('deep.yaml', deep), [{ line: 1 }]);
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i <= 9; i++)
    bomb.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(',')}]`,
    );
  add('yaml/alias-bomb', write('bomb.yaml', `${bomb.join('\n')}\n`), [{ rule: 'yaml.alias', line: 2, col: 8 }]);
  add('yaml/tabs', write('tabs.yaml', render({}).replace('  name: "zrb"', '\tname: "zrb"')), [{ line: 4 }]);
  add(
    'yaml/crlf-duplicate-key',
    write('crlf.yaml', render({}).replace('kind: RerouteCluster\n', 'kind: RerouteCluster\nkind: RerouteCluster\n').replace(/\n/g, '\r\n')),
    [{ rule: 'yaml.duplicate-key', line: 3 }],
  );
  add('yaml/json-array', write('array.json', '[1, 2, 3]\n'), [{ line: 1 }]);
  add('yaml/scalar', write('scalar.yaml', 'just a sentence\n'), [{ line: 1 }]);
  add('yaml/unterminated-quote', write('quote.yaml', render({}).replace('name: "zrb"', 'name: "zrb')), [{ line: 4 }]);
  add('yaml/anchor-undefined', write('anchor.yaml', render({}).replace('name: "zrb"', 'name: *nothing')), [{ line: 4 }]);

  // 5. Paths that are not regular files.
  fs.mkdirSync(path.join(dir, 'corpus', 'a-directory.yaml'));
  add('path/directory', path.join(dir, 'corpus', 'a-directory.yaml'), [{ rule: 'file.is-directory', line: 1, col: 1 }]);
  add('path/missing', path.join(dir, 'corpus', 'no-such-file.yaml'), [{ rule: 'file.not-found', line: 1, col: 1 }]);
  add('path/through-a-file', path.join(write('plain.yaml', 'x: 1\n'), 'child.yaml'), [{ rule: 'file.not-found', line: 1, col: 1 }]);
  execFileSync('mkfifo', [path.join(dir, 'corpus', 'fifo.yaml')]);
  add('path/fifo', path.join(dir, 'corpus', 'fifo.yaml'), [{ rule: 'file.not-regular', line: 1, col: 1 }]);
  add('path/char-device', '/dev/zero', [{ rule: 'file.not-regular', line: 1, col: 1 }]);
  fs.symlinkSync('loop-b.yaml', path.join(dir, 'corpus', 'loop-a.yaml'));
  fs.symlinkSync('loop-a.yaml', path.join(dir, 'corpus', 'loop-b.yaml'));
  add('path/symlink-loop', path.join(dir, 'corpus', 'loop-a.yaml'), [{ line: 1, col: 1 }]);
  fs.symlinkSync('nowhere.yaml', path.join(dir, 'corpus', 'dangling.yaml'));
  add('path/dangling-symlink', path.join(dir, 'corpus', 'dangling.yaml'), [{ rule: 'file.not-found', line: 1, col: 1 }]);
  add('path/empty-string', '', [{ line: 1, col: 1 }]);

  // 6. File names carrying shell metacharacters (content: a wrong kind on line 2).
  const wrongKind = render({}).replace('kind: RerouteCluster', 'kind: Cluster');
  const names = [
    '$(touch zrb-canary-a).yaml',
    '`touch zrb-canary-b`.yaml',
    'a;touch zrb-canary-c.yaml',
    'a b\'c".yaml',
    '-rf.yaml',
    'new\nline.yaml',
    '%s%n%x.yaml',
    '|touch zrb-canary-d.yaml',
    '*.yaml',
  ];
  // Given relative to the working directory, as an operator would type them.
  names.forEach((n, i) => add(`name/${i}`, path.basename(write(n, wrongKind)), [{ line: 2 }]));
}

function runBatch(batch: Array<{ id: string; argv: string[] }>, tag: string): Result[] {
  const casesFile = path.join(dir, `cases-${tag}.json`);
  const resultsFile = path.join(dir, `results-${tag}.json`);
  fs.writeFileSync(casesFile, JSON.stringify(batch));
  const node = [process.execPath, '-r', TSX, RUNNER, casesFile, resultsFile];
  const argv = isRoot ? ['ip', 'netns', 'exec', NETNS, ...node] : node;
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: path.join(dir, 'corpus'),
    env: {
      ...process.env,
      ZRB_CONNECT_LOG: path.join(dir, 'connect.log'),
      ZRB_TEST_PASSWORD: 'zrb-not-a-real-password',
      NO_COLOR: '1',
      SSH_AUTH_SOCK: '',
    },
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`batch runner failed (${String(r.status)}): ${r.stderr}`);
  return JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as Result[];
}

function attemptsFor(id: string): string[] {
  const log = path.join(dir, 'connect.log');
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .filter((l) => (JSON.parse(l) as { case: string }).case === id);
}

const COMMANDS = (c: Case, i: number): Array<{ cmd: string; argv: string[] }> => {
  const state = path.join(dir, 'state', String(i));
  return [
    { cmd: 'validate', argv: ['validate', '-f', c.file] },
    { cmd: 'plan', argv: ['--state', state, 'plan', '-f', c.file, '--out', path.join(dir, 'plans', `${i}.json`)] },
    { cmd: 'apply', argv: ['--state', state, 'apply', '-f', c.file, '--auto-approve'] },
  ];
};

let results: Map<string, Result>;

const BAD_PLANS: Record<string, string | Buffer> = {
  missing: 'MISSING',
  directory: 'DIR',
  empty: '',
  'not-json': 'apply everything',
  truncated: '{"format":"zbs-reroute/plan-v2","hosts":[{"node":"node-1",',
  'other-format': '{"format":"terraform-plan","hosts":[]}',
  'null-host': '{"format":"zbs-reroute/plan-v2","hosts":[null]}',
  'host-without-actions': '{"format":"zbs-reroute/plan-v2","hosts":[{"node":"node-1","host":"esxi","observedFingerprint":"x"}]}',
  binary: junk(512, 3),
};

/** A control character other than newline/tab reached the terminal (CR only as part of CRLF). */
function hasRawControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x09 || (c === 0x0d && text.charCodeAt(i + 1) === 0x0a)) continue;
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrb-bad-manifests-'));
  fs.mkdirSync(path.join(dir, 'corpus'));
  fs.mkdirSync(path.join(dir, 'plans'));
  buildCorpus();
  if (isRoot) {
    execFileSync('ip', ['netns', 'add', NETNS]);
    execFileSync('ip', ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up']);
  }
  const batch = cases.flatMap((c, i) => COMMANDS(c, i).map((x) => ({ id: `${x.cmd} ${c.id}`, argv: x.argv })));
  // Positive controls: a valid manifest validates with no connection, and `plan` does try to connect.
  const valid = write('valid.yaml', render({}));
  batch.push({ id: 'control validate', argv: ['validate', '-f', valid] });
  // Broken saved plans with a valid manifest: refused before any host is contacted.
  for (const [name, content] of Object.entries(BAD_PLANS)) {
    const file = path.join(dir, 'corpus', `plan-${name}.json`);
    if (content === 'DIR') fs.mkdirSync(file);
    else if (content !== 'MISSING') fs.writeFileSync(file, content);
    batch.push({ id: `planfile ${name}`, argv: ['--state', path.join(dir, 'state', `plan-${name}`), 'apply', file, '-f', valid] });
  }
  if (isRoot) batch.push({ id: 'control plan', argv: ['--state', path.join(dir, 'state', 'control'), 'plan', '-f', valid] });
  results = new Map(runBatch(batch, 'all').map((r) => [r.id, r]));
});

afterAll(() => {
  if (isRoot) spawnSync('ip', ['netns', 'delete', NETNS]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('bad manifests through the real CLI', () => {
  it('has a corpus of at least 100 broken manifests', () => {
    expect(cases.length).toBeGreaterThanOrEqual(100);
  });

  it('the connection counter works: a valid manifest validates without connecting, and plan on it does attempt connections', () => {
    expect(results.get('control validate')).toMatchObject({ code: 0 });
    expect(attemptsFor('control validate')).toEqual([]);
    if (!isRoot) return;
    const attempts = attemptsFor('control plan');
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.join('\n')).toContain('10.10.0.11');
  });

  it.each(['validate', 'plan', 'apply'])(
    '%s: every broken manifest exits 1 with file:line:col, no crash, and zero connection attempts',
    (cmd) => {
      const failures: string[] = [];
      for (const c of cases) {
        const r = results.get(`${cmd} ${c.id}`);
        if (!r) {
          failures.push(`${c.id}: no result`);
          continue;
        }
        const out = `${r.stdout}${r.stderr}`;
        const problems: string[] = [];
        if (r.code !== 1) problems.push(`exit ${r.code}`);
        if (/Internal error|RUNNER:/.test(out)) problems.push('internal error');
        if (!/Error \[(MANIFEST_INVALID|MANIFEST_NOT_FOUND)\]/.test(r.stderr)) problems.push('no MANIFEST_* error');
        for (const e of c.expect) {
          const loc = `${c.file}:${e.line}:${e.col ?? ''}`;
          if (!out.includes(loc)) problems.push(`missing ${loc}`);
          if (e.rule && !out.includes(`[${e.rule}]`)) problems.push(`missing [${e.rule}]`);
        }
        if (/Observing|Applying/.test(out)) problems.push('went on to observe');
        const attempts = attemptsFor(`${cmd} ${c.id}`);
        if (attempts.length > 0) problems.push(`connection attempts: ${attempts.join(' ')}`);
        // What the operator's terminal shows of a hostile value carries no raw control characters.
        if (!c.id.startsWith('name/') && hasRawControl(out)) problems.push('raw control characters in output');
        if (problems.length > 0) failures.push(`${c.id}: ${problems.join('; ')}\n    ${out.split('\n').slice(0, 3).join('\n    ')}`);
      }
      expect(failures).toEqual([]);
    },
  );

  it('apply PLANFILE with a broken saved plan is refused (PLAN_INVALID, exit 1) before any connection', () => {
    for (const name of Object.keys(BAD_PLANS)) {
      const id = `planfile ${name}`;
      const r = results.get(id);
      expect({ name, code: r?.code, err: r?.stderr }).toEqual({ name, code: 1, err: expect.stringContaining('Error [PLAN_INVALID]') });
      expect({ name, attempts: attemptsFor(id) }).toEqual({ name, attempts: [] });
    }
  });

  it('plan --out writes no plan file for a broken manifest, and nothing ran any injected command', () => {
    expect(fs.readdirSync(path.join(dir, 'plans'))).toEqual([]);
    expect(fs.existsSync(CANARY)).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'corpus')).filter((f) => f.startsWith('zrb-canary'))).toEqual([]);
  });

  it('the binary itself (bin/reroute.js, one process per run) behaves the same on a sample', async () => {
    const sample = ['path/missing', 'path/directory', 'file/binary-junk', 'name/0', 'value/datastore/dollar-paren'].map(
      (id) => cases.find((c) => c.id === id) as Case,
    );
    const log = path.join(dir, 'connect-bin.log');
    const procs = [];
    for (const c of sample) {
      const r = await runCli(['validate', '-f', c.file], {
        netns: isRoot ? NETNS : undefined,
        nodeArgs: ['-r', TSX, '-r', COUNTER],
        cwd: path.join(dir, 'corpus'),
        env: { ZRB_CONNECT_LOG: log },
        timeoutMs: 120_000,
      });
      procs.push({ c, r });
    }
    for (const { c, r } of procs) {
      expect({ id: c.id, status: r.code }).toEqual({ id: c.id, status: 1 });
      expect(r.stderr).toContain(`${c.file}:${c.expect[0]!.line}:`);
    }
    expect(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '').toBe('');
  });
});
