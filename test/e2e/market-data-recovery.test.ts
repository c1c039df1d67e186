// Recovery end to end, real processes: a gateway restart with clients resuming their seqs, and upstream faults
// (406, 407, a stall) injected through the simulator's control endpoint while clients are connected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type MdClient, type Stack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

const SYMBOLS = ['MDRA', 'MDRB'];
let stack: Stack;

beforeAll(async () => {
  // A longer 406 back-off than the failover file needs, so the quiet period after a 406 is measurable.
  stack = await startStack({ symbols: SYMBOLS, feedEnv: { FEED_SLOT_BACKOFF_MS: '1000' } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const rtAfter = (c: MdClient, since: number) => c.frames.filter((r) => r.at >= since && r.frame.src === 'rt').length;

describe('recovery with clients connected', () => {
  it('a gateway restart: clients reconnect to the new process with their last seqs and get the missed frames in order', { timeout: 90_000 }, async () => {
    const users = ['demo-pro', 'demo-pro-plus'];
    const old = await Promise.all(users.map((u) => stack.connect(u)));
    for (const c of old) c.send({ action: 'subscribe', quotes: SYMBOLS, trades: SYMBOLS });
    // The stack has just started (feed demand, upstream subscribe): up to 30 s on a busy CI machine, and the failure
    // says what did arrive.
    await Promise.all(
      old.map((c, i) =>
        waitFor(() => c.lastSeq.size === 4, 30_000, 'live quotes and trades of both symbols').catch((err: Error) => {
          const bySrc = new Map<string, number>();
          for (const r of c.frames) bySrc.set(String(r.frame.src), (bySrc.get(String(r.frame.src)) ?? 0) + 1);
          throw new Error(`${err.message} (${users[i]}: real-time keys ${JSON.stringify([...c.lastSeq.keys()])}, frames by src ${JSON.stringify(Object.fromEntries(bySrc))})`);
        }),
      ),
    );
    const oldUrl = stack.gatewayUrl;

    const stopping = stack.gateway.stop('SIGTERM');
    expect(await Promise.all(old.map((c) => c.closed))).toEqual([1001, 1001]);
    expect((await stopping).code).toBe(0);
    const lastSeqs = old.map((c) => new Map(c.lastSeq));

    const newUrl = await stack.startGateway();
    expect(newUrl).not.toBe(oldUrl);
    const fresh = await Promise.all(users.map((u) => stack.connect(u)));
    fresh.forEach((c, i) => c.resume(lastSeqs[i]!));

    for (const [i, c] of fresh.entries()) {
      for (const [key, seq] of lastSeqs[i]!) {
        const answer = (await c.control('resume', (m) => m.key === key, 10_000)).msg;
        expect(answer).toMatchObject({ recovered: true });
        // The replay is exactly seq+1 … lastSeq, in order, on the real-time line.
        const replay = c.replayOf(key)!;
        expect(replay.length).toBeGreaterThan(0); // the restart took seconds: something was missed
        expect(replay.map((f) => f.seq)).toEqual(Array.from({ length: replay.length }, (_, k) => seq + 1 + k));
        expect(replay.every((f) => f.src === 'rt')).toBe(true);
        expect(replay.at(-1)!.seq).toBe(answer.lastSeq);
      }
    }
    // …and live frames continue after it without a hole or a repeat.
    const resumedAt = Date.now();
    await Promise.all(fresh.map((c) => waitFor(() => rtAfter(c, resumedAt) > 10, 10_000, 'live frames after the resume')));
    for (const c of fresh) {
      expect(c.duplicates).toEqual([]);
      expect(c.unexplainedGaps()).toEqual([]);
      c.close();
    }
  });

  describe('upstream faults through the simulator control endpoint', () => {
    let pro: MdClient;
    let free: MdClient;
    beforeAll(async () => {
      [pro, free] = await Promise.all([stack.connect('demo-pro', { resumeGaps: true }), stack.connect('demo-free')]);
      for (const c of [pro, free]) c.send({ action: 'subscribe', quotes: SYMBOLS });
      await pro.framesAfter(0, (f) => f.src === 'rt', 10, 15_000, 'live quotes');
    }, 30_000);

    /**
     * Injects a fault, waits for the leader to log `expected` and every client to be told the hub is degraded with
     * `reason`, then for `upstream live`, the `live` status and live data again.
     */
    async function faultAndRecovery(inject: () => Promise<unknown>, expected: RegExp, quietMs: number, reason: string): Promise<void> {
      const leader = await stack.leaderProcess();
      const fromLine = leader.lines.length;
      const at = Date.now();
      await inject();
      const newLines = () => leader.lines.slice(fromLine);
      await waitFor(() => newLines().some((l) => expected.test(l)), 10_000, `the leader to log ${expected}`);
      for (const c of [pro, free]) {
        expect((await c.control('status', (m) => m.state === 'degraded', 10_000, at)).msg).toMatchObject({ reason });
      }
      // Data stops while the upstream is down…
      await sleep(quietMs);
      const quiet = Date.now();
      await sleep(200);
      expect(rtAfter(pro, quiet)).toBe(0);
      // …then the feed reconnects by itself and clients get live data again.
      await waitFor(() => newLines().some((l) => l.includes('"msg":"upstream live"')), 10_000, 'the upstream to be live again');
      for (const c of [pro, free]) await c.control('status', (m) => m.state === 'live', 10_000, at);
      const live = Date.now();
      await waitFor(() => rtAfter(pro, live) > 5, 10_000, 'live frames after the reconnect');
      expect(Date.now() - at).toBeLessThan(10_000);
      expect(pro.duplicates).toEqual([]);
      expect(pro.unexplainedGaps()).toEqual([]);
      expect(await stack.lease()).toMatchObject({ pid: leader.child.pid }); // one leader recovered by itself
    }

    it('406 connection limit: the feed backs off, reconnects and clients get live data again', { timeout: 30_000 }, async () => {
      await faultAndRecovery(() => stack.control('error', { code: 406 }), /upstream slot held elsewhere \(406\)/, 0, 'upstream_unavailable');
    });

    it('407 slow client: the feed reconnects with backoff and clients get live data again', { timeout: 30_000 }, async () => {
      await faultAndRecovery(() => stack.control('error', { code: 407 }), /"code":407/, 150, 'upstream_unavailable');
    });

    it('a short stall: clients are told degraded (upstream_stalled) and live again as soon as ticks flow, without a reconnect', { timeout: 30_000 }, async () => {
      const leader = await stack.leaderProcess();
      const fromLine = leader.lines.length;
      const at = Date.now();
      // Stall timeout 1 s, checked every 250 ms: the resubscribe comes 1–1.25 s into the silence, a reconnect would
      // come at 2–2.5 s; the upstream speaks again at 1.6 s.
      await stack.control('stall', { ms: 1_600 });
      for (const c of [pro, free]) {
        expect((await c.control('status', (m) => m.state === 'degraded', 5_000, at)).msg).toMatchObject({ reason: 'upstream_stalled' });
      }
      const degradedAt = Date.now();
      await pro.control('status', (m) => m.state === 'live', 5_000, at);
      await pro.framesAfter(degradedAt, (f) => f.src === 'rt', 5, 5_000, 'live quotes after the stall');
      const newLines = leader.lines.slice(fromLine);
      expect(newLines.some((l) => /"action":"resubscribe".*"msg":"upstream stalled"/.test(l))).toBe(true);
      expect(newLines.some((l) => l.includes('"msg":"upstream live"'))).toBe(false); // recovered by the ticks alone
      expect(pro.duplicates).toEqual([]);
      expect(pro.unexplainedGaps()).toEqual([]);
    });

    it('a silent stall: the feed resubscribes, then reconnects, and clients get live data once the upstream speaks again', { timeout: 30_000 }, async () => {
      await faultAndRecovery(() => stack.control('stall', { ms: 3_000 }), /"action":"resubscribe".*"msg":"upstream stalled"/, 500, 'upstream_stalled');
      const leader = await stack.leaderProcess();
      expect(leader.lines.some((l) => /"action":"reconnect".*"msg":"upstream stalled"/.test(l))).toBe(true);
      // The Free client is on the delay line the whole time and still never sees real-time.
      await free.framesAfter(0, (f) => f.src === 'delayed', 0, 10_000, 'delayed quotes');
      expect(free.frames.some((r) => r.frame.src === 'rt')).toBe(false);
    });
  });
});
