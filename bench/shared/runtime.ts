// What a benchmark asks the accounts runtime through Redis and the replicas' /healthz: partitions owned, and command
// stream entries not yet acknowledged.
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import type { RoleProcess } from '../../test/support/processes.js';
import { CONSUMER_GROUP, runtimeKeys } from '../../src/runtime/index.js';
import type { DiskProbe } from './disk-probe.js';
import { metricsUrlOf, type RoleLauncher } from './roles.js';
import type { Step } from './scenarios.js';
import { sleep } from './util.js';

/** Entries delivered or waiting in every partition's command stream, not yet XACKed. */
export async function streamBacklog(admin: Redis, partitions: number): Promise<number> {
  const pipe = admin.pipeline();
  for (let p = 0; p < partitions; p++) pipe.xpending(runtimeKeys.stream(p), CONSUMER_GROUP);
  let n = 0;
  for (const [err, r] of (await pipe.exec()) ?? []) if (!err && Array.isArray(r)) n += Number(r[0] ?? 0);
  return n;
}

/** Waits until the command streams are drained or `timeoutMs` passed; returns what is still pending. */
export async function drainStreams(admin: Redis, partitions: number, timeoutMs: number): Promise<number> {
  const by = Date.now() + timeoutMs;
  let backlog = await streamBacklog(admin, partitions);
  while (backlog > 0 && Date.now() < by) {
    await sleep(250);
    backlog = await streamBacklog(admin, partitions);
  }
  return backlog;
}

/** Waits until the replicas (their ops URLs) own every partition between them. */
export async function waitPartitionsOwned(replicaUrls: readonly string[], partitions: number, timeoutMs = 30_000): Promise<void> {
  const by = Date.now() + timeoutMs;
  for (;;) {
    const owned = (await Promise.all(replicaUrls.map(async (u) => ((await (await fetch(`${u}/healthz`)).json()) as { owned?: number[] }).owned?.length ?? 0))).reduce((x, y) => x + y, 0);
    if (owned === partitions) return;
    if (Date.now() > by) throw new Error(`only ${owned} of ${partitions} partitions owned after ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/** What every step of a whole-path benchmark reads: the processes it accounts for and the storage it checks. */
export interface StepServers {
  gateway: RoleProcess;
  replicas: Array<{ proc: RoleProcess; url: string }>;
  redisPid: number;
  pgPid: number;
  admin: Redis;
  batchSql: postgres.Sql;
  ownerSql: postgres.Sql;
  partitions: number;
  disk: DiskProbe;
  /** Runs a CHECKPOINT (BenchStack.checkpoint); resolves to the ms it took. */
  checkpoint(): Promise<number>;
}

/** A soak step's CHECKPOINT (`Step.checkpointAtSeconds` into the window that starts at `windowStart`): the ms it took. */
export function checkpointDuring(step: Step, windowStart: number, s: StepServers): Promise<number> | undefined {
  if (step.checkpointAtSeconds === undefined) return undefined;
  return sleep(Math.max(0, windowStart + step.checkpointAtSeconds * 1000 - Date.now())).then(() => s.checkpoint());
}

/**
 * Starts `replicas` accounts processes and one gateway (through `launcher`, each pushed on `roles` as soon as it is
 * spawned, so the caller stops it whatever happens), then waits until the replicas own every partition.
 */
export async function startAccountsAndGateway(
  launcher: RoleLauncher,
  roles: RoleProcess[],
  env: Record<string, string | undefined>,
  o: { replicas: number; partitions: number; session: { secret: string; issuer: string; audience: string } },
): Promise<{ replicas: StepServers['replicas']; gateway: RoleProcess; gatewayUrl: string; gatewayOpsUrl: string }> {
  const replicas: StepServers['replicas'] = [];
  for (let i = 0; i < o.replicas; i++) {
    const proc = launcher.start('accounts', env, 30_000);
    roles.push(proc);
    replicas.push({ proc, url: (await proc.ready).url });
  }
  const gateway = launcher.start('gateway', { ...env, SESSION_JWT_SECRET: o.session.secret, SESSION_JWT_ISSUER: o.session.issuer, SESSION_JWT_AUDIENCE: o.session.audience });
  roles.push(gateway);
  const ready = await gateway.ready;
  // The gateway serves /metrics only on its internal listener, which its ready note names ("…; metrics http://…/metrics").
  const opsMetrics = metricsUrlOf(ready.note)?.replace(/\/metrics$/, '');
  if (!opsMetrics) throw new Error(`the gateway's ready note names no metrics listener: ${ready.note ?? '(none)'}`);
  // Every partition owned before traffic starts.
  await waitPartitionsOwned(replicas.map((r) => r.url), o.partitions);
  return { replicas, gateway, gatewayUrl: ready.url, gatewayOpsUrl: opsMetrics };
}
