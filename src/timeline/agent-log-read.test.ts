import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentLogCommand, parseAgentLogRead } from './agent-log-read';

/** The command as a host's shell runs it (here /bin/sh: dash; the lab e2e runs it on busybox ash). */
function runOn(logFile: string, capBytes?: number): Buffer {
  return execFileSync('/bin/sh', ['-c', agentLogCommand(logFile, capBytes)]);
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-agent-log-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const line = (i: number) => `2026-12-02 00:00:${String(i % 60).padStart(2, '0')} node-1 reroute[1] line ${i}\n`;

describe('reading the agent log on a host', () => {
  test('the rotated file comes first, then the current one; both whole', () => {
    const log = path.join(dir, 'scvm_failure.log');
    fs.writeFileSync(`${log}.1`, line(1) + line(2));
    fs.writeFileSync(log, line(3));
    const r = parseAgentLogRead(runOn(log));
    expect(r.problems).toEqual([]);
    expect(r.text).toBe(line(1) + line(2) + line(3));
    expect(r.files.map((f) => [f.name, f.status])).toEqual([
      ['rotated', 'ok'],
      ['current', 'ok'],
    ]);
  });

  test('no rotation yet, or no log at all, is no problem', () => {
    const log = path.join(dir, 'scvm_failure.log');
    fs.writeFileSync(log, line(1));
    expect(parseAgentLogRead(runOn(log))).toMatchObject({ text: line(1), problems: [] });
    const none = parseAgentLogRead(runOn(path.join(dir, 'absent.log')));
    expect(none).toMatchObject({ text: '', problems: [] });
    expect(none.files.map((f) => f.status)).toEqual(['missing', 'missing']);
  });

  test('a file over the cap is read from its end, its cut first line dropped', () => {
    const log = path.join(dir, 'scvm_failure.log');
    const lines = Array.from({ length: 200 }, (_, i) => line(i));
    fs.writeFileSync(log, lines.join(''));
    const r = parseAgentLogRead(runOn(log, 2048));
    expect(r.files[1]?.status).toBe('truncated');
    expect(r.text.length).toBeLessThanOrEqual(2048);
    expect(r.text.endsWith(line(199))).toBe(true);
    expect(lines.join('').endsWith(r.text)).toBe(true);
    expect(r.text.startsWith('2026-12-02 ')).toBe(true);
  });

  test('a last line without its newline and a line that looks like framing are kept as text, never as frames', () => {
    const log = path.join(dir, 'scvm_failure.log');
    fs.writeFileSync(log, `${line(1)}@@section current 5 ok\n@@end 2\n${line(2).trimEnd()}`);
    const r = parseAgentLogRead(runOn(log));
    expect(r.problems).toEqual([]);
    expect(r.text).toBe(`${line(1)}@@section current 5 ok\n@@end 2\n${line(2)}`);
  });

  test('the log path reaches the host shell quoted', () => {
    expect(agentLogCommand("/var/log/it's here.log")).toContain(`'/var/log/it'\\''s here.log'`);
  });

  test('output cut short is a problem, not a partial log taken for whole', () => {
    const log = path.join(dir, 'scvm_failure.log');
    fs.writeFileSync(log, line(1));
    const out = runOn(log);
    expect(parseAgentLogRead(out.subarray(0, out.length - 12)).problems).not.toEqual([]);
  });
});
