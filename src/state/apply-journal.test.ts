import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplyJournal, formatRunSummary, parseJournal, summarizeLastRun } from './apply-journal';

describe('apply journal', () => {
  let root: string;
  let stateDir: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'zrr-journal-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(() => {
    stateDir = mkdtempSync(join(root, 's-'));
  });

  it('appends one JSON line per event, tagged with the run id', () => {
    const j = ApplyJournal.open(stateDir);
    const run = j.startRun({ command: 'reroute apply -f c.yaml', nodes: ['esxi-1'] });
    run.record({ node: 'esxi-1', host: '10.0.0.11', index: 0, op: 'upload-file', state: 'started' });
    run.record({ node: 'esxi-1', host: '10.0.0.11', index: 0, op: 'upload-file', state: 'done' });
    run.end('ok');
    const lines = readFileSync(j.path, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; runId: string });
    expect(lines.map((l) => l.type)).toEqual(['run-start', 'action', 'action', 'run-end']);
    expect(new Set(lines.map((l) => l.runId)).size).toBe(1);
    expect(j.lastIncompleteRun()).toBeUndefined();
  });

  it('after a crash, names the actions that were in flight and the ones that failed', () => {
    const j = ApplyJournal.open(stateDir);
    const old = j.startRun({ command: 'old' });
    old.end('ok');
    const run = j.startRun({ command: 'reroute apply -f c.yaml' });
    run.record({ node: 'esxi-1', host: '10.0.0.11', index: 0, op: 'upload-file', state: 'started' });
    run.record({ node: 'esxi-1', host: '10.0.0.11', index: 0, op: 'upload-file', state: 'done' });
    run.record({ node: 'esxi-2', host: '10.0.0.12', index: 2, op: 'edit-crontab', state: 'started' });
    run.record({ node: 'esxi-3', host: '10.0.0.13', index: 1, op: 'upload-file', state: 'started' });
    run.record({ node: 'esxi-3', host: '10.0.0.13', index: 1, op: 'upload-file', state: 'failed', error: 'REMOTE_TIMEOUT: slow' });
    // The process died here: no run-end, and a torn half line at the end.
    appendFileSync(j.path, '{"type":"action","runId":"x","at');
    const s = j.lastIncompleteRun();
    expect(s?.runId).toBe(run.runId);
    expect(s?.actions.find((a) => a.node === 'esxi-2')?.state).toBe('in-flight');
    expect(s?.actions.find((a) => a.node === 'esxi-1')?.state).toBe('done');
    expect(s?.actions.find((a) => a.node === 'esxi-3')?.error).toContain('REMOTE_TIMEOUT');
    const text = formatRunSummary(s!);
    expect(text).toContain('did not finish');
    expect(text).toContain('in flight: esxi-2 (10.0.0.12) action #2 edit-crontab');
    expect(text).toContain('failed:    esxi-3');
    expect(j.read().badLines).toBe(1);
  });

  it('skips junk lines instead of failing', () => {
    const { entries, badLines } = parseJournal('not json\n{"no":"runId"}\n\n{"type":"run-start","runId":"r","at":"t","command":"c","pid":1,"user":"u","machine":"m"}\n');
    expect(entries).toHaveLength(1);
    expect(badLines).toBe(2);
    expect(summarizeLastRun(entries)?.finished).toBe(false);
    expect(summarizeLastRun([])).toBeUndefined();
  });
});
