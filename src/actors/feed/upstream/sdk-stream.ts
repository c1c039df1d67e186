// The official SDK's stock stream with our hands on the wire: every decoded message goes to our hooks as Alpaca's raw
// maps (no SDK re-mapping), error frames keep their codes, the SDK never reconnects by itself, and we subscribe with
// one combined frame per change.
import { streaming } from '@alpacahq/alpaca-trade-api';

/** The stream channels the feed republishes; each gets the same symbol set. */
export const UPSTREAM_CHANNELS = ['trades', 'quotes', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds'] as const;

const CONTROL_TYPES: ReadonlySet<unknown> = new Set(['success', 'subscription', 'error']);

export interface RawStreamHooks {
  /** The server accepted the credentials. */
  onAuthenticated(): void;
  /** The full-subscription echo (`T:"subscription"`). */
  onSubscription(frame: Record<string, unknown>): void;
  /** An error frame, with its code (`T:"error"`). */
  onErrorFrame(code: number, message: string): void;
  /** Every other element of one upstream array, in order (data messages; malformed ones too). */
  onData(messages: readonly unknown[]): void;
  /** The top-level message was not an array. */
  onMalformed(message: unknown): void;
}

export interface RawStreamOptions {
  url: string;
  keyId: string;
  secret: string;
  hooks: RawStreamHooks;
}

export class RawStockDataStream extends streaming.StockDataStream {
  private readonly hooks: RawStreamHooks;

  constructor(options: RawStreamOptions) {
    super({
      url: options.url,
      credentials: { keyId: options.keyId, secret: options.secret },
      // We own reconnects (406 must never become a loop, 402 must stop): the SDK only ever opens one socket.
      reconnect: false,
      maxReconnectAttempts: 0,
    });
    this.hooks = options.hooks;
  }

  protected override handleMessage(message: unknown): void {
    if (!Array.isArray(message)) {
      this.hooks.onMalformed(message);
      return;
    }
    let start = 0;
    for (let i = 0; i < message.length; i++) {
      const frame: unknown = message[i];
      const type = typeof frame === 'object' && frame !== null ? (frame as Record<string, unknown>).T : undefined;
      if (!CONTROL_TYPES.has(type)) continue;
      // Data before a control frame goes out first, so order is kept and a closing error cannot swallow it.
      if (i > start) this.hooks.onData(message.slice(start, i));
      start = i + 1;
      if (!this.isCallbackCurrent()) return;
      const f = frame as Record<string, unknown>;
      if (type === 'error') {
        const code = typeof f.code === 'number' ? f.code : Number(f.code ?? 0);
        this.hooks.onErrorFrame(Number.isFinite(code) ? code : 0, typeof f.msg === 'string' ? f.msg : '');
      } else {
        // success (connected / authenticated) and the subscription echo: the SDK keeps its bookkeeping.
        super.handleMessage([f]);
        if (type === 'subscription' && this.isCallbackCurrent()) this.hooks.onSubscription(f);
      }
    }
    if (start === 0) this.hooks.onData(message);
    else if (start < message.length && this.isCallbackCurrent()) this.hooks.onData(message.slice(start));
  }

  protected override onAuthenticated(): void {
    super.onAuthenticated();
    if (this.authenticated && this.isCallbackCurrent()) this.hooks.onAuthenticated();
  }

  /** The SDK would replay its own list on authentication; the upstream sends the desired set itself. */
  protected override resubscribe(): void {}

  /** One frame for all channels: `{action, trades:[…], quotes:[…], …}`. */
  sendSubscription(action: 'subscribe' | 'unsubscribe', symbols: readonly string[]): void {
    if (symbols.length === 0 || !this.authenticated) return;
    const frame: Record<string, unknown> = { action };
    for (const ch of UPSTREAM_CHANNELS) frame[ch] = symbols;
    this.send(frame);
  }

  /** Closes the socket (no SDK reconnect) and resolves once it is closed, terminating it after `graceMs`. */
  close(graceMs = 2_000): Promise<void> {
    const conn = this.conn;
    if (!conn || conn.readyState === 3) {
      this.disconnect();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        conn.terminate?.();
        resolve();
      }, graceMs);
      timer.unref();
      conn.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.disconnect();
    });
  }
}
