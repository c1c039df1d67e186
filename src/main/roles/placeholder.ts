// A role whose issue has not landed yet: it serves health and readiness, and says plainly that it does nothing.
import { createRedis, closeRedis } from '../../infra/redis/index.js';
import { startOpsServer, type ReadinessCheck } from '../../infra/http/index.js';
import postgres from 'postgres';
import type { RoleContext, RunningRole } from '../role-context.js';

export interface PlaceholderSpec {
  /** Which dependencies the real role will need, so readiness already checks them. */
  needs: { redis: boolean; database: 'app' | 'batch' | false };
  /** What will arrive here, for the log line. */
  pending: string;
}

export function placeholderRole(spec: PlaceholderSpec) {
  return async (ctx: RoleContext): Promise<RunningRole> => {
    const checks: Record<string, ReadinessCheck> = {};
    if (spec.needs.redis) {
      const redis = createRedis(ctx.config.redis.url, `raxx-${ctx.role}`);
      redis.on('error', () => {}); // readiness reports it; a log line per retry would flood
      ctx.onShutdown(() => closeRedis(redis));
      checks.redis = async () => {
        if ((await redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
      };
    }
    if (spec.needs.database) {
      const url = spec.needs.database === 'batch' ? ctx.config.database.batchUrl : ctx.config.database.appUrl;
      const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
      ctx.onShutdown(() => sql.end({ timeout: 2 }));
      checks.postgres = async () => {
        await sql`select 1`;
      };
    }
    const ops = await startOpsServer({
      host: ctx.config.http.host,
      port: ctx.config.http.port,
      role: ctx.role,
      registry: ctx.metrics,
      checks,
      describe: () => ({ state: 'placeholder', pending: spec.pending }),
    });
    ctx.onShutdown(() => ops.close());
    return { url: ops.url, note: `does nothing yet: ${spec.pending}` };
  };
}
