// Preload for `bench:actors --cpu-prof DIR` (node refuses --cpu-prof in NODE_OPTIONS, but allows --import):
// profiles the whole process with the in-process inspector and writes DIR/<role>-<pid>.cpuprofile when it exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

const dir = process.env.RAXX_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // In-process inspector sessions answer synchronously, so this completes inside the exit handler.
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `${process.argv.at(-1)}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
