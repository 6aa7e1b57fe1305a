import { LOCAL_SH_BEGIN, LOCAL_SH_END } from '../agent/bundle-layout';
import { editLines, editLocalSh, extractLocalShBlock } from './text-edits';

const ESXI_CRONTAB = [
  '#min hour day mon dow command',
  '1    1    *   *   *   /sbin/tmpwatch.py',
  '1    *    *   *   *   /sbin/auto-backup.sh ++group=host/vim/vmvisor/backup.sh',
  '*/5  *    *   *   *   /bin/hostd-probe.sh ++group=host/vim/vmvisor/hostd-probe/stats/sh',
  '',
].join('\n');
const OURS = '* * * * * /bin/sh /vmfs/volumes/datastore1/zbs-reroute/reroute-loop.sh &';
const LEGACY = '* * * * * /bin/sh /vmfs/volumes/5f1a/vmware_scvm_failure/scvm_failure_loop.sh &';

describe('editLines', () => {
  it('appends our line and keeps every ESXi line byte for byte', () => {
    const out = editLines(ESXI_CRONTAB, [], [OURS]);
    expect(out).toBe(`${ESXI_CRONTAB}${OURS}\n`);
  });

  it('replaces a legacy line without moving foreign lines', () => {
    const out = editLines(`${ESXI_CRONTAB}${LEGACY}\n`, [LEGACY], [OURS]);
    expect(out).toBe(`${ESXI_CRONTAB}${OURS}\n`);
  });

  it('is idempotent: adding a line that is present changes nothing', () => {
    const once = editLines(ESXI_CRONTAB, [], [OURS]);
    expect(editLines(once, [], [OURS])).toBe(once);
  });

  it('adds a newline before appending to a file whose last line has none', () => {
    expect(editLines('a', [], ['b'])).toBe('a\nb\n');
  });

  it('keeps CRLF line endings of foreign lines', () => {
    expect(editLines('x\r\ny\r\n', [], ['z'])).toBe('x\r\ny\r\nz\n');
  });

  it('removes our line from an otherwise untouched file', () => {
    expect(editLines(`${ESXI_CRONTAB}${OURS}\n`, [OURS], [])).toBe(ESXI_CRONTAB);
  });
});

describe('editLocalSh', () => {
  const template = '#!/bin/sh\n# local configuration options\nsomething --foreign\nexit 0\n';
  const block = `${LOCAL_SH_BEGIN}\necho ours\n${LOCAL_SH_END}\n`;

  it('places a new block before exit 0', () => {
    expect(editLocalSh(template, block, [])).toBe(`#!/bin/sh\n# local configuration options\nsomething --foreign\n${block}exit 0\n`);
  });

  it('replaces an existing block in place', () => {
    const installed = editLocalSh(template, block, []);
    const newer = `${LOCAL_SH_BEGIN}\necho newer\n${LOCAL_SH_END}\n`;
    expect(editLocalSh(installed, newer, [])).toBe(installed.replace('echo ours', 'echo newer'));
  });

  it('removes the block and legacy lines, leaving the template as it was', () => {
    const legacy = '/bin/sh /vmfs/volumes/x/vmware_scvm_failure/gen.sh';
    const dirty = editLocalSh(template.replace('exit 0', `${legacy}\nexit 0`), block, []);
    expect(editLocalSh(dirty, undefined, [legacy])).toBe(template);
  });

  it('appends the block when the file has no exit 0', () => {
    expect(editLocalSh('#!/bin/sh', block, [])).toBe(`#!/bin/sh\n${block}`);
  });

  it('extracts exactly the managed block', () => {
    expect(extractLocalShBlock(editLocalSh(template, block, []))).toBe(block);
    expect(extractLocalShBlock(template)).toBeUndefined();
  });
});
