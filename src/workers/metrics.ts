// Prometheus metrics of the workers role.
import { Counter, type Registry } from 'prom-client';

export function workersMetrics(registry: Registry) {
  const registers = [registry];
  return {
    jobs: new Counter({ name: 'raxx_workers_jobs_total', help: 'Jobs finished, by queue, job name and outcome', labelNames: ['queue', 'job', 'outcome'], registers }),
    stalled: new Counter({ name: 'raxx_workers_jobs_stalled_total', help: 'Jobs found stalled (their worker died or blocked) and re-queued or failed', labelNames: ['queue'], registers }),
    usersFannedOut: new Counter({ name: 'raxx_workers_settle_users_fanned_out_total', help: 'Settle commands appended to user partitions (repeats after a crash included)', registers }),
    daysFannedOut: new Counter({ name: 'raxx_workers_settle_days_total', help: 'Trading days whose settle fan-out completed', registers }),
    liveCommands: new Counter({ name: 'raxx_workers_live_commands_total', help: 'live.revoke (mass revoke) and live.refresh (schedule) commands appended, repeats included', labelNames: ['type'], registers }),
    liveRewrapped: new Counter({ name: 'raxx_workers_live_rewrapped_total', help: 'Live connections whose data keys a key re-wrap moved to another KMS key', registers }),
    rowsPurged: new Counter({ name: 'raxx_workers_retention_rows_purged_total', help: 'Rows deleted by the retention purge, by table and tier', labelNames: ['table', 'tier'], registers }),
  };
}
export type WorkersMetrics = ReturnType<typeof workersMetrics>;
