// Starts the real simulator in-process on free loopback ports for a test; stop it with close().
import { loadSimConfig } from '../../src/sim/config.js';
import { createSimLog } from '../../src/sim/log.js';
import { startSimulator, type RunningSimulator } from '../../src/sim/server.js';

export async function startTestSimulator(settings: Record<string, string> = {}): Promise<RunningSimulator & { ws: string }> {
  const sim = await startSimulator(loadSimConfig({ PORT: '0', SIM_KMS_PORT: '0', ...settings }), createSimLog(() => {}));
  return { ...sim, ws: sim.url.replace(/^http/, 'ws') };
}
