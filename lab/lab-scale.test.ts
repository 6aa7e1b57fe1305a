/**
 * A large lab (16 nodes here; ZRL_SCALE_NODES=64 for the full size) comes up with every host
 * reachable, every ESXi's IO served by its own SCVM, and the IO probe sampling every host.
 * Bounds are generous on purpose (a loaded 2-core machine must not fail it): the start, stop
 * and idle-cost figures go to stderr, and lab/README.md records measured ones.
 */
import { Lab } from './lab';
import { sleep } from './proc';
import { measureFootprint } from './services/footprint';
import { testLabName } from './test-support';
import { describeLab } from '../test/support/describe-lab';

jest.setTimeout(600_000);

const NODES = Number(process.env.ZRL_SCALE_NODES ?? '16');
const WINDOW_MS = 3000;
const PERIOD_MS = 50;

describeLab(`lab at ${NODES} nodes`, () => {
  test('starts, serves every host from its own SCVM, samples every host, answers ssh on the last host, and stops', async () => {
    const t0 = Date.now();
    const lab = await Lab.start({ nodes: NODES, name: testLabName('scale') });
    const startMs = Date.now() - t0;
    try {
      const since = Date.now();
      await sleep(WINDOW_MS);
      const io = lab.io(since);
      const served = Object.fromEntries(Object.entries(io).map(([h, s]) => [h, s.servedBy]));
      const want = Object.fromEntries(lab.nodes.map((n) => [n.esxi.target, n.scvm.target]));
      expect(served).toEqual(want);
      // 60 probes per host are due in the window; a quarter of that proves the probe samples every
      // host at its period even on a loaded machine, without turning this into a timing test.
      const few = Object.entries(io).filter(([, s]) => s.periodMs !== PERIOD_MS || s.ok < WINDOW_MS / PERIOD_MS / 4);
      expect(few.map(([h, s]) => `${h}: ${s.ok} ok of ${s.probes} every ${s.periodMs} ms`)).toEqual([]);
      const last = lab.nodes[NODES - 1]!;
      const r = await lab.exec('ctl', `ssh root@${last.esxi.mgmtIp} 'hostname; esxcfg-route -l | tail -1'`);
      expect(r.stdout).toMatch(new RegExp(`^esxi-${NODES}\\ndefault\\s+0\\.0\\.0\\.0\\s+10\\.10\\.0\\.1\\s+vmk0\\n$`));
      const cost = await measureFootprint(lab.name, 5);
      process.stderr.write(
        `lab scale: ${NODES} nodes idle: ${cost.processes} processes, RSS ${cost.rssMb} MB, PSS ${cost.pssMb} MB, ${cost.cpuPercentOfOneCore} % of one core\n`,
      );
    } finally {
      const t1 = Date.now();
      await lab.stop();
      const stopMs = Date.now() - t1;
      process.stderr.write(`lab scale: ${NODES} nodes started in ${startMs} ms, stopped in ${stopMs} ms\n`);
    }
  });
});
