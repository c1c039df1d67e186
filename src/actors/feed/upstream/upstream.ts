// The feed leader's upstream: one Alpaca market-data WebSocket (official SDK), with our own reconnect policy per
// Alpaca error code, a desired-symbol diff, a silent-stall watchdog and once-only tick normalisation.
import { symbolSchema } from '../../../contracts/index.js';
import { backoffDelay, DEFAULT_BACKOFF, jittered, type BackoffSettings } from './backoff.js';
import { createTickNormaliser } from './normalise.js';
import { RawStockDataStream } from './sdk-stream.js';
import type { Upstream, UpstreamEvent, UpstreamOptions, UpstreamState, UpstreamStats, UpstreamTick } from './types.js';

const DEFAULT_STALL_TIMEOUT_MS = 15_000;
const DEFAULT_SLOT_BACKOFF_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEALTHY_AFTER_MS = 30_000;

/** Alpaca error codes after which the server closes the connection. */
const CLOSING_CODES: ReadonlySet<number> = new Set([401, 402, 404, 406, 407, 409]);

export function createUpstream(options: UpstreamOptions): Upstream {
  const base = options.url.replace(/\/+$/, '');
  const backoff: BackoffSettings = { ...DEFAULT_BACKOFF, ...stripUndefined(options.backoff ?? {}) };
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const slotBackoffMs = options.slotBackoffMs ?? DEFAULT_SLOT_BACKOFF_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const healthyAfterMs = options.healthyAfterMs ?? DEFAULT_HEALTHY_AFTER_MS;
  const log = options.log?.child({ component: 'feed-upstream' });

  const stats: UpstreamStats = { connects: 0, messages: 0, skipped: 0, outOfOrder: 0, reconnects: 0 };
  const normaliser = createTickNormaliser(stats);

  let state: UpstreamState = 'idle';
  let activeFeed: string = options.feed;
  /** stop() was called: nothing reconnects any more. */
  let stopped = false;
  /** A fatal fault (402, 409 without fallback) stopped reconnects until reconnect(). */
  let halted = false;

  let current: Connection | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  /** Consecutive failures, for the exponential backoff; reset after a healthy period or by reconnect(). */
  let attempt = 0;
  /** Consecutive 406s. */
  let slotAttempts = 0;
  /** Sockets being closed by us; a new connect waits for them so our own old socket never holds the slot. */
  const closing = new Set<Promise<void>>();
  /** The pending connectWhenClosed(); cleared by connect() and stop(). */
  let connectToken: object | undefined;

  let desired = new Set<string>();

  interface Connection {
    stream: RawStockDataStream;
    feed: string;
    /** Symbols subscribed (sent, and not refused) on this connection. */
    requested: Set<string>;
    /** The last subscription echo (trades channel; all channels carry the same set). */
    confirmed: Set<string>;
    live: boolean;
    liveSince: number;
    lastDataAt: number;
    /** 0 = quiet; 1 = resubscribed after a stall at `stallMarkAt`. */
    stallPhase: 0 | 1;
    stallMarkAt: number;
    lastErrorCode: number | undefined;
    lastSocketError: string | undefined;
    connectTimer: NodeJS.Timeout | undefined;
  }

  function withConn(conn: Connection | undefined, fn: (conn: Connection) => void): void {
    if (conn) fn(conn);
  }

  function emit(event: UpstreamEvent): void {
    if (log) {
      const level = event.type === 'auth_failed' || event.type === 'insufficient_subscription' ? 'error'
        : event.type === 'state' || event.type === 'subscribed' || event.type === 'connecting' || event.type === 'live' ? 'info' : 'warn';
      log[level]({ event }, `upstream ${event.type}`);
    }
    try {
      options.onEvent(event);
    } catch (err) {
      log?.error({ err }, 'upstream onEvent handler threw');
    }
  }

  function setState(next: UpstreamState): void {
    if (next === state) return;
    const previous = state;
    state = next;
    emit({ type: 'state', state: next, previous });
  }

  function clearReconnectTimer(): void {
    if (reconnectTimer) clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
  }

  // --- connecting -------------------------------------------------------------------------------------------------

  /** Opens a connection once our own previous sockets have closed. */
  function connectWhenClosed(): void {
    clearReconnectTimer();
    setState('connecting');
    const pending = [...closing];
    if (pending.length === 0) return connect();
    const waitFor = Promise.all(pending);
    const marker = {};
    connectToken = marker;
    void waitFor.then(() => {
      if (connectToken === marker && !stopped && !halted && !current && state === 'connecting') connect();
    });
  }

  function connect(): void {
    if (stopped || halted || current) return;
    clearReconnectTimer();
    connectToken = undefined;
    stats.connects++;
    setState('connecting');
    emit({ type: 'connecting', feed: activeFeed, attempt: stats.connects });
    let keyId: string;
    let secret: string;
    try {
      ({ keyId, secret } = options.credentials());
    } catch (err) {
      log?.error({ err }, 'upstream credentials unavailable');
      scheduleReconnect('credentials unavailable', 'backoff');
      return;
    }
    const feed = activeFeed;
    // The hooks fire only while this connection is the current one; `self` is filled in once the stream exists.
    const self: { conn?: Connection } = {};
    const mine = (): Connection | undefined => (self.conn !== undefined && current === self.conn ? self.conn : undefined);
    let stream: RawStockDataStream;
    try {
      stream = new RawStockDataStream({
        url: `${base}/v2/${feed}`,
        keyId,
        secret,
        hooks: {
          onAuthenticated: () => withConn(mine(), (c) => onAuthenticated(c, keyId)),
          onSubscription: (frame) => withConn(mine(), (c) => onSubscription(c, frame)),
          onErrorFrame: (code, message) => withConn(mine(), (c) => onErrorFrame(c, code, message)),
          onData: (messages) => withConn(mine(), (c) => onData(c, messages)),
          onMalformed: () =>
            withConn(mine(), (c) => {
              stats.skipped++;
              c.lastDataAt = Date.now();
            }),
        },
      });
    } catch (err) {
      // The SDK refuses empty credentials: a configuration fault, retried with backoff like any other.
      log?.error({ err }, 'upstream stream could not be created');
      scheduleReconnect('invalid credentials', 'backoff');
      return;
    }
    const conn: Connection = {
      stream, feed, requested: new Set(), confirmed: new Set(), live: false, liveSince: 0, lastDataAt: Date.now(),
      stallPhase: 0, stallMarkAt: 0, lastErrorCode: undefined, lastSocketError: undefined, connectTimer: undefined,
    };
    self.conn = conn;
    current = conn;
    stream.onStateChange((s) => {
      if (s === 'disconnected' && current === conn) onClosed(conn);
    });
    stream.onError((message) => {
      if (current === conn) conn.lastSocketError = message;
    });
    conn.connectTimer = setTimeout(() => {
      if (current !== conn || conn.live) return;
      retire(conn, 'connect timeout');
      scheduleReconnect('connect timeout', 'backoff');
    }, connectTimeoutMs);
    stream.connect();
  }

  function onAuthenticated(conn: Connection, keyId: string): void {
    clearTimeout(conn.connectTimer);
    conn.live = true;
    conn.liveSince = Date.now();
    conn.lastDataAt = conn.liveSince;
    slotAttempts = 0;
    setState('live');
    emit({ type: 'live', feed: conn.feed, keyId });
    conn.requested = new Set(desired);
    conn.stream.sendSubscription('subscribe', [...conn.requested]);
    startWatchdog();
  }

  function onSubscription(conn: Connection, frame: Record<string, unknown>): void {
    const trades = Array.isArray(frame.trades) ? frame.trades.filter((s): s is string => typeof s === 'string') : [];
    conn.confirmed = new Set(trades);
    emit({ type: 'subscribed', symbols: conn.confirmed.size });
  }

  function onData(conn: Connection, messages: readonly unknown[]): void {
    if (messages.length === 0) return;
    conn.lastDataAt = Date.now();
    conn.stallPhase = 0;
    const delayed = conn.feed === 'delayed_sip';
    const ticks: UpstreamTick[] = [];
    for (const m of messages) {
      const tick = normaliser.normalise(m, delayed);
      if (tick) ticks.push(tick);
    }
    if (ticks.length === 0) return;
    try {
      options.onTicks(ticks);
    } catch (err) {
      log?.error({ err }, 'upstream onTicks handler threw');
    }
  }

  function onErrorFrame(conn: Connection, code: number, message: string): void {
    conn.lastErrorCode = code;
    switch (code) {
      case 402:
        // Bad key: retrying cannot help. reconnect() (after a key rotation) tries again.
        halted = true;
        retire(conn, 'auth failed');
        emit({ type: 'auth_failed', code, message });
        setState('stopped');
        return;
      case 406: {
        // The slot is held elsewhere (e.g. a frozen former leader): wait long, never loop.
        slotAttempts++;
        retire(conn, 'connection limit exceeded');
        scheduleReconnect('connection limit exceeded', 'slot');
        return;
      }
      case 409:
        retire(conn, 'insufficient subscription');
        if (conn.feed === 'sip') {
          activeFeed = 'delayed_sip';
          normaliser.forget(); // delayed timestamps are 15 min behind: not "out of order"
          emit({ type: 'feed_fallback', from: 'sip', to: 'delayed_sip' });
          connectWhenClosed();
        } else {
          halted = true;
          emit({ type: 'insufficient_subscription', feed: conn.feed });
          setState('stopped');
        }
        return;
      case 405:
        // The subscribe was refused as a whole; the server kept the previous subscription.
        emit({ type: 'symbol_limit', requested: desired.size, subscribed: conn.confirmed.size });
        conn.requested = new Set(conn.confirmed);
        return;
      default:
        emit({ type: 'upstream_error', code, message });
        if (CLOSING_CODES.has(code)) {
          // 401, 404, 407: the server closes; reconnect with jittered backoff.
          retire(conn, message || `error ${code}`);
          scheduleReconnect(message || `error ${code}`, 'backoff');
        }
    }
  }

  /** The socket closed without us asking (server close, network error, ping timeout, a fault after an error frame). */
  function onClosed(conn: Connection): void {
    clearTimeout(conn.connectTimer);
    current = undefined;
    stopWatchdog();
    const reason = conn.lastErrorCode !== undefined ? `error ${conn.lastErrorCode}` : conn.lastSocketError ?? 'closed';
    emit({ type: 'disconnected', reason, ...(conn.lastErrorCode !== undefined ? { code: conn.lastErrorCode } : {}) });
    if (stopped || halted) return;
    if (conn.live && Date.now() - conn.liveSince >= healthyAfterMs) attempt = 0;
    scheduleReconnect(reason, 'backoff');
  }

  /** Closes a connection on our initiative; its events are ignored from now on. */
  function retire(conn: Connection, reason: string): void {
    if (current !== conn) return;
    current = undefined;
    clearTimeout(conn.connectTimer);
    stopWatchdog();
    if (conn.live && Date.now() - conn.liveSince >= healthyAfterMs) attempt = 0;
    emit({ type: 'disconnected', reason, ...(conn.lastErrorCode !== undefined ? { code: conn.lastErrorCode } : {}) });
    const done = conn.stream.close().catch(() => {});
    closing.add(done);
    void done.then(() => closing.delete(done));
  }

  function scheduleReconnect(reason: string, kind: 'backoff' | 'slot'): void {
    if (stopped || halted) return;
    clearReconnectTimer();
    stats.reconnects++;
    const delayMs = kind === 'slot' ? jittered(slotBackoffMs, backoff.jitter) : backoffDelay(attempt, backoff);
    if (kind === 'backoff') attempt++;
    setState('backoff');
    if (kind === 'slot') emit({ type: 'slot_busy', attempts: slotAttempts, delayMs });
    emit({ type: 'backoff', delayMs, attempt: kind === 'slot' ? slotAttempts : attempt, reason });
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connectWhenClosed();
    }, delayMs);
  }

  // --- stall watchdog ---------------------------------------------------------------------------------------------

  function startWatchdog(): void {
    stopWatchdog();
    const every = Math.max(25, Math.min(1_000, Math.floor(stallTimeoutMs / 4)));
    watchdog = setInterval(checkStall, every);
    watchdog.unref();
  }

  function stopWatchdog(): void {
    if (watchdog) clearInterval(watchdog);
    watchdog = undefined;
  }

  function checkStall(): void {
    const conn = current;
    if (!conn || !conn.live) return;
    const now = Date.now();
    let open: boolean;
    try {
      open = options.isMarketOpen();
    } catch {
      open = false;
    }
    // `requested`, not the echo: the resubscribe's unsubscribe echo must not look like "nothing subscribed".
    if (conn.requested.size === 0 || !open) {
      // Silence while closed or unsubscribed is expected; the clock starts when both hold.
      conn.lastDataAt = now;
      conn.stallPhase = 0;
      return;
    }
    if (conn.stallPhase === 0 && now - conn.lastDataAt >= stallTimeoutMs) {
      conn.stallPhase = 1;
      conn.stallMarkAt = now;
      emit({ type: 'stall', action: 'resubscribe', silentMs: now - conn.lastDataAt });
      const symbols = [...conn.requested];
      conn.stream.sendSubscription('unsubscribe', symbols);
      conn.stream.sendSubscription('subscribe', symbols);
    } else if (conn.stallPhase === 1 && now - conn.stallMarkAt >= stallTimeoutMs) {
      emit({ type: 'stall', action: 'reconnect', silentMs: now - conn.lastDataAt });
      retire(conn, 'stalled');
      scheduleReconnect('stalled', 'backoff');
    }
  }

  // --- public API -------------------------------------------------------------------------------------------------

  function start(): void {
    if (stopped || halted || state !== 'idle') return;
    connect();
  }

  async function stop(reason: string): Promise<void> {
    if (!stopped) {
      stopped = true;
      log?.info({ reason }, 'upstream stopping');
      clearReconnectTimer();
      connectToken = undefined;
      stopWatchdog();
      if (current) retire(current, `stopped: ${reason}`);
      setState('stopped');
    }
    await Promise.all([...closing]);
  }

  function reconnect(reason: string): void {
    if (stopped) return;
    log?.info({ reason }, 'upstream reconnect requested');
    halted = false;
    attempt = 0;
    slotAttempts = 0;
    if (activeFeed !== options.feed) {
      activeFeed = options.feed; // a rotated key may carry the plan the old one lacked
      normaliser.forget();
    }
    if (current) retire(current, reason);
    connectWhenClosed();
  }

  function setSymbols(symbols: ReadonlySet<string>): void {
    // One bad symbol would make Alpaca reject the whole subscribe frame (400): leave it out.
    const next = new Set<string>();
    const invalid: string[] = [];
    for (const s of symbols) {
      if (symbolSchema.safeParse(s).success) next.add(s);
      else invalid.push(s);
    }
    if (invalid.length > 0) log?.warn({ invalid: invalid.slice(0, 10), count: invalid.length }, 'upstream ignores invalid symbols');
    const removedFromDesired = [...desired].filter((s) => !next.has(s));
    desired = next;
    normaliser.forget(removedFromDesired);
    const conn = current;
    if (!conn || !conn.live) return; // applied on the next authentication
    const add = [...next].filter((s) => !conn.requested.has(s));
    const remove = [...conn.requested].filter((s) => !next.has(s));
    conn.stream.sendSubscription('unsubscribe', remove);
    conn.stream.sendSubscription('subscribe', add);
    conn.requested = new Set(next);
  }

  return {
    start,
    stop,
    reconnect,
    setSymbols,
    get state() {
      return state;
    },
    get activeFeed() {
      return activeFeed;
    },
    get stats() {
      return { ...stats };
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
