// The tradable-asset list as the upstream serves it (`GET /v2/assets`), cached in memory and refreshed in the
// background: the paper API answers 422 for unknown symbols from it, and the paper engine takes its asset facts
// (shortable, easy to borrow, fractionable) from it.
import { z } from 'zod';

const assetSchema = z.object({
  symbol: z.string(),
  status: z.string(),
  tradable: z.boolean(),
  shortable: z.boolean().default(false),
  easy_to_borrow: z.boolean().default(false),
  fractionable: z.boolean().default(false),
  marginable: z.boolean().default(false),
});
export type AssetFacts = z.infer<typeof assetSchema>;

export interface AssetDirectoryOptions {
  tradingUrl: string;
  /** Read on every request (the key files rotate without a redeploy). */
  credentials(): { keyId: string; secret: string };
  /** Default 10 minutes. */
  refreshMs?: number;
  timeoutMs?: number;
  onError?(err: unknown): void;
}

export interface AssetDirectory {
  /** The asset, or undefined when the upstream does not list the symbol (or the first load has not finished). */
  get(symbol: string): AssetFacts | undefined;
  /** Resolves after the first successful load (rejects if it fails; the background refresh keeps trying). */
  ready(): Promise<void>;
  size(): number;
  close(): void;
}

export class AssetDirectoryError extends Error {
  override readonly name = 'AssetDirectoryError';
  readonly code = 'assets_unavailable';
}

export function createAssetDirectory(opts: AssetDirectoryOptions): AssetDirectory {
  const base = opts.tradingUrl.replace(/\/+$/, '');
  let assets = new Map<string, AssetFacts>();
  let stopped = false;

  const load = async (): Promise<void> => {
    const { keyId, secret } = opts.credentials();
    let res: Response;
    try {
      res = await fetch(`${base}/v2/assets?status=active`, {
        headers: { 'APCA-API-KEY-ID': keyId, 'APCA-API-SECRET-KEY': secret, accept: 'application/json' },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new AssetDirectoryError(`the asset list could not be fetched: ${(err as Error).name}`, { cause: err });
    }
    if (!res.ok) throw new AssetDirectoryError(`the asset list answered HTTP ${res.status}`);
    const parsed = z.array(assetSchema).safeParse(await res.json());
    if (!parsed.success) throw new AssetDirectoryError('the asset list has an unexpected shape');
    if (!stopped) assets = new Map(parsed.data.map((a) => [a.symbol, a]));
  };

  const first = load();
  first.catch((err: unknown) => opts.onError?.(err));
  const timer = setInterval(() => load().catch((err: unknown) => opts.onError?.(err)), opts.refreshMs ?? 600_000);
  timer.unref();
  return {
    get: (symbol) => assets.get(symbol),
    ready: () => first,
    size: () => assets.size,
    close: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
