import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resultShapeProblems, runBenchmark, writeResult, type BenchResult } from '../../bench/bench-result';
import { sessionSource } from '../../bench/session-source';
import { renderMarkdown } from '../../bench/report';
import { describeLab } from '../support/describe-lab';

/**
 * `npm run bench -- --smoke` stays runnable: the cheapest benchmark (session list source, a
 * 2-node lab, a few calls) in smoke mode writes a result of the documented shape. Figures are
 * not judged here; benchmarks never pass or fail on a number.
 */
jest.setTimeout(180_000);

describeLab('bench smoke', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zrb-smoke-test-'));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('session-source --smoke writes one JSON result with lab size, load averages, raw samples and a summary per source', async () => {
    const r = await runBenchmark(sessionSource, { smoke: true, workDir: path.join(dir, 'work'), log: () => undefined });
    const file = writeResult(path.join(dir, 'results'), r);
    const back = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult;
    expect(path.basename(file)).toBe('session-source.json');
    expect(resultShapeProblems(back)).toEqual([]);
    expect(back.mode).toBe('smoke');
    expect(back.lab.nodes).toBeGreaterThanOrEqual(1);
    const calls = (back.samples as { calls: Record<string, unknown[]> }).calls;
    expect(Object.keys(calls).sort()).toEqual(['rest', 'ssh']);
    for (const src of ['rest', 'ssh']) {
      expect(calls[src]?.length).toBe((back.parameters as { callsPerSource: number }).callsPerSource);
      expect(Object.keys(back.summary[src] as object)).toEqual(
        expect.arrayContaining(['wallMs', 'cpuMs', 'maxRssKb', 'wireBytes', 'hungLocalOneMs']),
      );
    }
    expect(renderMarkdown([back])).toContain('## 1. Session list source');
  });
});
