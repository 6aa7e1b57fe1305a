import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { scanScript } from '../../src/preflight/shell-script-scan';
import { checkScript, parseAllowList } from '../../test/support/applet-allow-list';

const AGENT_DIR = __dirname;
const ESXI_DIR = path.resolve(__dirname, '..');
const allow = parseAllowList(fs.readFileSync(path.join(AGENT_DIR, 'applets.txt'), 'utf8'));
/** Agent functions whose trailing arguments are a command (checked like any other). */
const WRAPPERS = { run_bounded: 2, setsid: 0, exec: 0 };

/** The scripts the installer deploys to ESXi (test doubles under test-shims/ are not deployed). */
function agentScripts(): string[] {
  return fs
    .readdirSync(AGENT_DIR)
    .filter((f) => f.endsWith('.sh'))
    .map((f) => path.join(AGENT_DIR, f));
}

/** Every shell script under esxi/: *.sh files and files starting with a /bin/sh shebang. */
function allShellScripts(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') out.push(...allShellScripts(p));
    } else if (e.isFile()) {
      if (e.name.endsWith('.sh')) out.push(p);
      else if (!e.name.endsWith('.ts') && !e.name.endsWith('.txt') && !e.name.endsWith('.md')) {
        const head = fs.readFileSync(p, 'utf8').slice(0, 32);
        if (/^#!\s*\/bin\/(ba)?sh\b/.test(head)) out.push(p);
      }
    }
  }
  return out;
}

describe('agent scripts keep to the ESXi applet list (applets.txt)', () => {
  test('the agent loop exists and carries its version on line 2', () => {
    const lines = fs.readFileSync(path.join(AGENT_DIR, 'reroute-loop.sh'), 'utf8').split('\n');
    expect(lines[0]).toBe('#!/bin/sh');
    expect(lines[1]).toMatch(/^reroute_version=\d+\.\d+\.\d+$/);
  });

  test.each(agentScripts().map((p) => [path.basename(p), p]))('%s uses only listed commands and options', (_n, p) => {
    expect(checkScript(fs.readFileSync(p, 'utf8'), allow, WRAPPERS)).toEqual([]);
  });

  test('the loop really runs the commands the list is about (the scanner sees them)', () => {
    const r = scanScript(fs.readFileSync(path.join(AGENT_DIR, 'reroute-loop.sh'), 'utf8'), WRAPPERS);
    const names = new Set(r.commands.map((c) => c.name));
    for (const n of ['ping', 'wget', 'ssh', 'esxcfg-route', 'esxcli', 'ps', 'kill', 'mkdir', 'awk', 'date', 'sleep']) {
      expect(names).toContain(n);
    }
    const ssh = r.commands.find((c) => c.name === 'ssh');
    expect(ssh?.options).toEqual(['-i', '-o', '-o', '-o', '-o']);
  });
});

/** Lines `NAME busybox ...` of an allow-list: what must exist in ESXi's busybox itself. */
function busyboxEntries(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim().split(/\s+/))
    .filter((w) => w[1] === 'busybox')
    .map((w) => w[0] as string);
}

const LISTS = {
  agent: path.join(AGENT_DIR, 'applets.txt'),
  probe: path.join(ESXI_DIR, 'probe', 'probe-commands.txt'),
  'host-ops': path.join(ESXI_DIR, 'apply', 'host-ops-commands.txt'),
};

describe('host-ops.sh keeps to the agent list plus host-ops-commands.txt', () => {
  test('every command and option it runs is listed', () => {
    const merged = { ...allow, ...parseAllowList(fs.readFileSync(LISTS['host-ops'], 'utf8')) };
    expect(checkScript(fs.readFileSync(path.join(ESXI_DIR, 'apply', 'host-ops.sh'), 'utf8'), merged)).toEqual([]);
  });
});

// ESXi 6.5+ ship a reduced busybox (no tr, pgrep, pidof, killall, flock, base64, id): every busybox
// applet our scripts are allowed must be in the smallest public list, which the lab's 6.7 profile is.
const PROFILE_67 = path.resolve(ESXI_DIR, '..', 'lab', 'esxi-profiles', '6.7.applets');
(fs.existsSync(PROFILE_67) ? describe : describe.skip)('the allow-lists agree with the ESXi 6.7 busybox profile', () => {
  const have = new Set(
    fs
      .readFileSync(PROFILE_67, 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean),
  );
  test.each(Object.entries(LISTS))('%s list names only applets ESXi 6.7 has', (_n, file) => {
    expect(busyboxEntries(fs.readFileSync(file, 'utf8')).filter((a) => !have.has(a))).toEqual([]);
  });
  test('the commands public sources say ESXi lacks are on no list', () => {
    const all = Object.values(LISTS).flatMap((f) => Object.keys(parseAllowList(fs.readFileSync(f, 'utf8'))));
    expect(all.filter((c) => ['tr', 'pgrep', 'pidof', 'killall', 'flock', 'base64', 'id', 'timeout'].includes(c))).toEqual([]);
  });
});

describe('the applet checker', () => {
  const check = (src: string): string[] => checkScript(src, allow, WRAPPERS);

  test('rejects timeout, whose syntax differs between ESXi busybox builds', () => {
    expect(check('timeout 5 ssh host true\n')).toEqual([expect.stringContaining("'timeout'")]);
  });

  test('rejects wget -T and ping -W', () => {
    expect(check('wget -q -T 3 -O - http://x/\n')).toEqual([expect.stringContaining("'-T'")]);
    expect(check('x=$(ping -c 1 -W 1 10.0.0.1)\n')).toEqual([expect.stringContaining("'-W'")]);
  });

  test('looks inside command substitutions, trap strings, pipelines and wrapper arguments', () => {
    expect(check('a=$(date +%s | md5sum)\n')).toEqual([expect.stringContaining("'md5sum'")]);
    expect(check("trap 'pkill foo' TERM\n")).toEqual([expect.stringContaining("'pkill'")]);
    expect(check('run_bounded() { "$@"; }\nrun_bounded 2 /tmp/o curl -s http://x\n')).toEqual([expect.stringContaining("'curl'")]);
    expect(check('if x=$(echo "$(seq 3)"); then :; fi\n')).toEqual([expect.stringContaining("'seq'")]);
  });

  test('accepts bundles of listed letters only', () => {
    expect(check('rm -rf /tmp/x\n')).toEqual([]);
    expect(check('rm -rfv /tmp/x\n')).toEqual([expect.stringContaining("'-rfv'")]);
  });

  test('does not mistake case patterns, assignments, redirections or quoted words for commands', () => {
    const src = [
      'f() {',
      '  case $1 in',
      '  *[!0-9]* | "") X=1 ;;',
      '  -*) read -r y <"$f" 2>/dev/null ;;',
      '  esac',
      '  IFS== read -r a b',
      '  echo "-n is not an option here" >&2',
      '}',
      'for i in a b; do f "$i"; done',
      '',
    ].join('\n');
    expect(check(src)).toEqual([]);
  });

  test('refuses constructs it cannot read rather than skipping them', () => {
    expect(check('a=`date`\n').some((e) => e.includes('backquote'))).toBe(true);
    expect(check('cat <<EOF\nx\nEOF\n').some((e) => e.includes('here-document'))).toBe(true);
    expect(check('$CMD -x\n')).toEqual([expect.stringContaining('expansion')]);
  });
});

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
if (!hasShellcheck) {
  console.warn('shellcheck is not installed: skipping the shellcheck test (CI installs it: apt-get install shellcheck)');
}
(hasShellcheck ? describe : describe.skip)('shellcheck -s sh (skipped only when shellcheck is missing)', () => {
  test.each(allShellScripts(ESXI_DIR).map((p) => [path.relative(ESXI_DIR, p), p]))('%s is clean', (_n, p) => {
    let out = '';
    try {
      execFileSync('shellcheck', ['-s', 'sh', p], { encoding: 'utf8' });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      out = `${err.stdout ?? ''}${err.stderr ?? ''}` || String(e);
    }
    expect(out).toBe('');
  });
});
