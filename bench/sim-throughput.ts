// Simulator market-data throughput: one msgpack client on loopback subscribed to everything, the market offering
// RATE msgs/s in live batches for DURATION seconds. Prints offered vs delivered msgs/s, bytes/s and the latency
// (receive time − message timestamp). Usage: npx tsx bench/sim-throughput.ts [rate=60000] [seconds=10]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { Decoder, ExtensionCodec, decodeTimestampToTimeSpec } from '@msgpack/msgpack';
import { createSyntheticMarket } from '../src/sim/market/index.js';
import { createMarketDataStream } from '../src/sim/stream/index.js';
import type { MarketClock } from '../src/sim/clock/types.js';

const rate = Number(process.argv[2] ?? 60_000);
const seconds = Number(process.argv[3] ?? 10);
const batchMs = 10;

const clock: MarketClock = {
  now: () => new Date(), isOpen: () => true, session: () => undefined, calendar: () => [],
  nextOpen: () => new Date(), nextClose: () => new Date(Date.now() + 86_400_000),
};
const market = createSyntheticMarket(clock, { seed: 1, ratePerSecond: rate, batchMs, haltProbability: 0 });
let offered = 0;
market.subscribe((b) => { offered += b.length; });
const stream = createMarketDataStream({
  market, clock, keys: [{ keyId: 'BENCH', secret: 'bench', plan: 'algo_trader_plus' }], maxBufferedBytes: 256 * 1024 * 1024, pingIntervalMs: 0,
});
const server = createServer((_req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => { if (!stream.handleUpgrade(req, socket, head)) socket.destroy(); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;

// decode like the SDK: timestamps via the extension codec (kept as [sec, nsec])
const codec = new ExtensionCodec();
codec.register({ type: -1, encode: () => null, decode: (d: Uint8Array) => decodeTimestampToTimeSpec(d) });
const decoder = new Decoder({ extensionCodec: codec });

const ws = new WebSocket(`ws://127.0.0.1:${port}/v2/sip`, { headers: { 'Content-Type': 'application/msgpack' }, perMessageDeflate: false });
let delivered = 0;
let bytes = 0;
let measuring = false;
const lat: number[] = [];
let ready: () => void = () => {};
const subscribed = new Promise<void>((r) => { ready = r; });
ws.on('message', (data: Buffer) => {
  const arr = decoder.decode(data) as { T: string; t?: { sec: number; nsec: number } }[];
  const recvMs = Date.now();
  for (const m of arr) {
    if (m.T === 'success' && (m as unknown as { msg: string }).msg === 'authenticated') {
      ws.send(JSON.stringify({ action: 'subscribe', trades: ['*'], quotes: ['*'], bars: ['*'], updatedBars: ['*'], dailyBars: ['*'], statuses: ['*'], lulds: ['*'] }));
    } else if (m.T === 'subscription') ready();
    else if (measuring && m.t) {
      delivered++;
      if ((delivered & 63) === 0) lat.push(recvMs - (m.t.sec * 1000 + m.t.nsec / 1e6));
    }
  }
  if (measuring) bytes += data.length;
});
await new Promise<void>((r) => ws.once('open', () => r()));
ws.send(JSON.stringify({ action: 'auth', key: 'BENCH', secret: 'bench' }));
await subscribed;

market.start();
await new Promise((r) => setTimeout(r, 1000)); // warm-up
offered = 0;
measuring = true;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await new Promise((r) => setTimeout(r, seconds * 1000));
market.stop();
const elapsed = (performance.now() - t0) / 1000;
const offeredFinal = offered;
await new Promise((r) => setTimeout(r, 300)); // let in-flight frames land
measuring = false;
const cpu = process.cpuUsage(cpu0);

lat.sort((a, b) => a - b);
const pct = (p: number) => (lat.length ? (lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] as number) : NaN);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`sim-throughput: requested ${fmt(rate)} msgs/s for ${seconds}s, batch ${batchMs} ms, 1 msgpack client on loopback (same process)`);
console.log(`  offered   : ${fmt(offeredFinal / elapsed)} msgs/s (${fmt(offeredFinal)} msgs, quotes+trades+bars)`);
console.log(`  delivered : ${fmt(delivered / elapsed)} msgs/s (${fmt(delivered)} msgs decoded by the client)`);
console.log(`  bytes     : ${(bytes / elapsed / 1e6).toFixed(2)} MB/s (${(bytes / Math.max(1, delivered)).toFixed(1)} B/msg)`);
console.log(`  latency   : p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms (receive − message t; includes up to ${batchMs} ms batching)`);
console.log(`  cpu       : ${((cpu.user + cpu.system) / 1e6 / elapsed * 100).toFixed(0)} % of one core (server + client in one process)`);
console.log(`  verdict   : ${delivered / elapsed >= 50_000 ? 'PASS' : 'BELOW'} target 50,000 msgs/s`);

ws.close();
await stream.close();
await new Promise<void>((r) => server.close(() => r()));
process.exit(0);
