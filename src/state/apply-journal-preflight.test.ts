import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplyJournal } from './apply-journal';

/** `apply --skip-check NAME` is recorded in the run-start line: the names and each failure let through. */
describe('apply journal: preflight overrides', () => {
  test('run-start carries the skipped checks and the failures they overrode; runs without skips carry nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zr-journal-pf-'));
    try {
      const j = ApplyJournal.open(dir);
      j.startRun({ command: 'apply -f c.yaml --skip-check secure-boot', preflight: { skipped: ['secure-boot'], overridden: ['node-2/esxi secure-boot: UEFI Secure Boot is on'] } }).end('ok');
      j.startRun({ command: 'apply -f c.yaml' }).end('ok');
      const starts = j.read().entries.filter((e) => e.type === 'run-start');
      expect(starts[0]).toMatchObject({ preflight: { skipped: ['secure-boot'], overridden: ['node-2/esxi secure-boot: UEFI Secure Boot is on'] } });
      expect(starts[1]).not.toHaveProperty('preflight');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
