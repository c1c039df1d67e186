// The market calendar as the upstream serves it (`GET /v2/clock`): roles never compute market hours themselves.

export interface UpstreamMarketClock {
  /** Last known answer; `true` until the first answer arrives, so a stall watchdog errs on the side of acting. */
  isOpen(): boolean;
  close(): void;
}

export interface MarketClockOptions {
  tradingUrl: string;
  credentials(): { keyId: string; secret: string };
  refreshMs?: number;
  onError?(err: unknown): void;
}

export function pollMarketClock(opts: MarketClockOptions): UpstreamMarketClock {
  let open = true;
  let stopped = false;
  const refresh = async () => {
    try {
      const { keyId, secret } = opts.credentials();
      const res = await fetch(`${opts.tradingUrl.replace(/\/$/, '')}/v2/clock`, {
        headers: { 'APCA-API-KEY-ID': keyId, 'APCA-API-SECRET-KEY': secret },
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) throw new Error(`clock answered HTTP ${res.status}`);
      const body = (await res.json()) as { is_open?: unknown };
      if (typeof body.is_open === 'boolean' && !stopped) open = body.is_open;
    } catch (err) {
      opts.onError?.(err);
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), opts.refreshMs ?? 60_000);
  timer.unref();
  return {
    isOpen: () => open,
    close: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
