// The hub's counters as Prometheus metrics, read from `stats()` at scrape time (the hot path keeps plain integers).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MarketDataHubStats } from './hub.js';

type Cumulative = 'framesIn' | 'publishes' | 'replayRequests' | 'replayReads' | 'snapshotHits' | 'snapshotReads';

const COUNTERS: ReadonlyArray<[Cumulative, string, string]> = [
  ['framesIn', 'raxx_gateway_hub_frames_in_total', 'Market-data frames received from Redis for acquired topics'],
  ['publishes', 'raxx_gateway_hub_publishes_total', 'Packed payloads published to uWS topics'],
  ['replayRequests', 'raxx_gateway_hub_replay_requests_total', 'Resume requests (one per socket and key)'],
  ['replayReads', 'raxx_gateway_hub_replay_reads_total', 'Reads of the replay window that served them (concurrent resumes of one key share one)'],
  ['snapshotHits', 'raxx_gateway_hub_snapshot_hits_total', "Snapshot frames served from a subscribed topic's last received frame"],
  ['snapshotReads', 'raxx_gateway_hub_snapshot_reads_total', 'Redis reads (HMGET) for snapshot frames not held in memory'],
];

export function registerHubMetrics(registry: Registry, stats: () => MarketDataHubStats): void {
  const registers = [registry];
  for (const [field, name, help] of COUNTERS) {
    let seen = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = stats()[field];
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  }
  new Gauge({
    name: 'raxx_gateway_hub_topics',
    help: 'Market-data topics with at least one socket or stream',
    registers,
    collect() {
      this.set(stats().topics);
    },
  });
}
