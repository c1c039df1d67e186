// Preload for a bench role (BENCH_ROLE_NODE_ARGS="--import <this file>", RAXX_BENCH_HEAP_DIR=DIR): samples the
// allocations of a window of the run with the in-process inspector and writes DIR/<role>-<pid>.heapprofile. By
// default it keeps only objects that outlived the scavenges (collected by a major GC, or still alive): what each
// scavenge had to copy, the cost docs/bench-actors.md "2026-11-24 19:40 UTC" traced to ioredis. RAXX_BENCH_HEAP_YOUNG=1
// keeps every allocation (where the garbage comes from). Summarise with bench/shared/heap-profile-summary.ts.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import process from 'node:process';
import { setTimeout } from 'node:timers';

const dir = process.env.RAXX_BENCH_HEAP_DIR;
if (dir) {
  const after = Number(process.env.RAXX_BENCH_HEAP_AFTER_MS ?? 15_000);
  const span = Number(process.env.RAXX_BENCH_HEAP_FOR_MS ?? 12_000);
  const session = new Session();
  session.connect();
  const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  setTimeout(async () => {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', {
      samplingInterval: 16_384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: process.env.RAXX_BENCH_HEAP_YOUNG === '1',
    });
    setTimeout(async () => {
      const { profile } = await post('HeapProfiler.getSamplingProfile');
      await post('HeapProfiler.stopSampling');
      writeFileSync(join(dir, `${process.argv.at(-1)}-${process.pid}.heapprofile`), JSON.stringify(profile));
    }, span).unref();
  }, after).unref();
}
