// The simulated brokerage: accounts, orders and positions, filled against the simulated NBBO with Alpaca-paper-like rules.
import { randomUUID } from 'node:crypto';
import type { MarketClock } from '../clock/types.js';
import type { MarketState, SimMessage, SimQuote } from '../market/types.js';
import { dec, decOrNull, iso, isSubPenny, newYork, parseAmount, round, stableUuid } from './format.js';

export type OrderSide = 'buy' | 'sell';
export type OrderType = 'market' | 'limit' | 'stop' | 'stop_limit' | 'trailing_stop';
export type TimeInForce = 'day' | 'gtc' | 'opg' | 'cls' | 'ioc' | 'fok';
export type OrderStatus =
  | 'new' | 'partially_filled' | 'filled' | 'done_for_day' | 'canceled' | 'expired' | 'replaced' | 'pending_cancel'
  | 'pending_replace' | 'accepted' | 'pending_new' | 'accepted_for_bidding' | 'stopped' | 'rejected' | 'suspended' | 'calculated';

const ORDER_TYPES: readonly string[] = ['market', 'limit', 'stop', 'stop_limit', 'trailing_stop'];
const TIFS: readonly string[] = ['day', 'gtc', 'opg', 'cls', 'ioc', 'fok'];
const OPEN_STATUSES: ReadonlySet<OrderStatus> = new Set(['new', 'partially_filled', 'accepted', 'pending_new']);

export interface SimOrder {
  id: string;
  clientOrderId: string;
  accountId: string;
  seq: number;
  createdAt: Date;
  updatedAt: Date;
  submittedAt: Date;
  filledAt?: Date;
  expiredAt?: Date;
  canceledAt?: Date;
  failedAt?: Date;
  replacedAt?: Date;
  replacedBy?: string;
  replaces?: string;
  symbol: string;
  assetId: string;
  notional?: number;
  qty?: number;
  filledQty: number;
  filledAvgPrice?: number;
  type: OrderType;
  side: OrderSide;
  timeInForce: TimeInForce;
  limitPrice?: number;
  stopPrice?: number;
  trailPrice?: number;
  trailPercent?: number;
  hwm?: number;
  extendedHours: boolean;
  status: OrderStatus;
  positionIntent: string;
  /** Stop and trailing-stop orders: the stop has been hit and the order now works as market / limit. */
  triggered: boolean;
  /** Day orders: epoch ms of the close they expire at. */
  expiresAtMs?: number;
}

export interface SimPosition {
  symbol: string;
  assetId: string;
  exchange: string;
  /** Signed: negative is short. */
  qty: number;
  avgEntryPrice: number;
}

export interface SimAccount {
  id: string;
  login: string;
  accountNumber: string;
  createdAt: Date;
  cash: number;
  startingCash: number;
  multiplier: number;
  shortingEnabled: boolean;
  positions: Map<string, SimPosition>;
  orders: SimOrder[];
  byId: Map<string, SimOrder>;
  byClientId: Map<string, SimOrder>;
}

export interface TradeUpdate {
  event: string;
  order: SimOrder;
  timestamp: Date;
  price?: number;
  qty?: number;
  positionQty?: number;
  executionId?: string;
}

/** An error the REST layer answers with Alpaca's `{code, message}` body. */
export class AlpacaApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (message: string) => new AlpacaApiError(422, 40010001, message);
const unprocessable = (message: string) => new AlpacaApiError(422, 42210000, message);
const forbidden = (message: string) => new AlpacaApiError(403, 40310000, message);

export interface AccountDefaults {
  /** Starting cash of every new account. Default 100000. */
  cash?: number;
  /** Buying-power multiplier: 1 is a cash account (default), 2 or 4 a margin account. */
  multiplier?: number;
  /** Whether sells beyond the position (short sales) are allowed. Default false ("account is not allowed to short"). */
  shortingEnabled?: boolean;
}

export interface EngineOptions {
  market: MarketState;
  clock: MarketClock;
  account?: AccountDefaults;
  /**
   * 'unlimited' (default, like Alpaca paper): a marketable order fills completely at the NBBO.
   * 'quote-size': each quote offers only its displayed size (`as`/`bs` shares), so big orders fill partially across quotes.
   */
  liquidity?: 'unlimited' | 'quote-size';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export class TradingEngine {
  readonly accounts = new Map<string, SimAccount>();
  private readonly listeners = new Set<(accountId: string, update: TradeUpdate) => void>();
  private readonly consumed = new WeakMap<SimQuote, { ask: number; bid: number }>();
  private seq = 0;
  private readonly market: MarketState;
  private readonly clock: MarketClock;
  private readonly defaults: Required<AccountDefaults>;
  private readonly liquidity: 'unlimited' | 'quote-size';

  constructor(options: EngineOptions) {
    this.market = options.market;
    this.clock = options.clock;
    this.defaults = {
      cash: options.account?.cash ?? 100_000,
      multiplier: options.account?.multiplier ?? 1,
      shortingEnabled: options.account?.shortingEnabled ?? false,
    };
    this.liquidity = options.liquidity ?? 'unlimited';
  }

  onUpdate(listener: (accountId: string, update: TradeUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The account of a login (an OAuth user or an API key), created on first use. */
  account(login: string): SimAccount {
    let a = this.accounts.get(login);
    if (!a) {
      const id = stableUuid('account', login);
      a = {
        id,
        login,
        accountNumber: `PA${parseInt(id.replace(/-/g, '').slice(0, 10), 16).toString().slice(0, 10).padStart(10, '0')}`,
        createdAt: this.clock.now(),
        cash: this.defaults.cash,
        startingCash: this.defaults.cash,
        multiplier: this.defaults.multiplier,
        shortingEnabled: this.defaults.shortingEnabled,
        positions: new Map(),
        orders: [],
        byId: new Map(),
        byClientId: new Map(),
      };
      this.accounts.set(login, a);
    }
    return a;
  }

  accountById(id: string): SimAccount | undefined {
    for (const a of this.accounts.values()) if (a.id === id || a.login === id) return a;
    return undefined;
  }

  // ---------------------------------------------------------------- valuation

  private mark(symbol: string, fallback: number): number {
    const q = this.market.latestQuote(symbol);
    if (q && q.bp > 0 && q.ap > 0) return (q.bp + q.ap) / 2;
    const t = this.market.latestTrade(symbol);
    return t ? t.p : fallback;
  }

  private reference(symbol: string, side: OrderSide): number | undefined {
    const q = this.market.latestQuote(symbol);
    if (q) {
      const px = side === 'buy' ? q.ap : q.bp;
      if (px > 0) return px;
    }
    return this.market.latestTrade(symbol)?.p;
  }

  private leaves(o: SimOrder): number {
    return o.qty === undefined ? 0 : round(o.qty - o.filledQty, 9);
  }

  /** Cash an open buy order holds against buying power. */
  private reserved(o: SimOrder): number {
    if (o.side !== 'buy' || !OPEN_STATUSES.has(o.status)) return 0;
    if (o.notional !== undefined) return o.filledQty > 0 ? 0 : o.notional;
    const px = o.limitPrice ?? o.stopPrice ?? this.reference(o.symbol, 'buy') ?? 0;
    return this.leaves(o) * px;
  }

  values(a: SimAccount) {
    let longMv = 0;
    let shortMv = 0;
    for (const p of a.positions.values()) {
      const mv = p.qty * this.mark(p.symbol, p.avgEntryPrice);
      if (p.qty > 0) longMv += mv;
      else shortMv += mv;
    }
    const equity = a.cash + longMv + shortMv;
    let reserved = 0;
    for (const o of a.orders) reserved += this.reserved(o);
    // Cash account: cash less what open buys hold; margin: equity times the multiplier less the positions' exposure.
    const buyingPower = Math.max(0, equity * a.multiplier - longMv + shortMv - reserved);
    return { longMv, shortMv, equity, buyingPower, reserved };
  }

  // ---------------------------------------------------------------- serialization

  orderJson(o: SimOrder): Record<string, unknown> {
    return {
      id: o.id,
      client_order_id: o.clientOrderId,
      created_at: iso(o.createdAt),
      updated_at: iso(o.updatedAt),
      submitted_at: iso(o.submittedAt),
      filled_at: iso(o.filledAt),
      expired_at: iso(o.expiredAt),
      canceled_at: iso(o.canceledAt),
      failed_at: iso(o.failedAt),
      replaced_at: iso(o.replacedAt),
      replaced_by: o.replacedBy ?? null,
      replaces: o.replaces ?? null,
      asset_id: o.assetId,
      symbol: o.symbol,
      asset_class: 'us_equity',
      notional: decOrNull(o.notional, 2),
      qty: decOrNull(o.notional !== undefined && o.filledQty === 0 ? undefined : o.qty),
      filled_qty: dec(o.filledQty),
      filled_avg_price: decOrNull(o.filledAvgPrice, 4),
      order_class: '',
      order_type: o.type,
      type: o.type,
      side: o.side,
      position_intent: o.positionIntent,
      time_in_force: o.timeInForce,
      limit_price: decOrNull(o.limitPrice, 4),
      stop_price: decOrNull(o.stopPrice, 4),
      status: o.status,
      extended_hours: o.extendedHours,
      legs: null,
      trail_percent: decOrNull(o.trailPercent, 4),
      trail_price: decOrNull(o.trailPrice, 4),
      hwm: decOrNull(o.hwm, 4),
      subtag: null,
      source: null,
      expires_at: o.expiresAtMs === undefined ? null : new Date(o.expiresAtMs).toISOString(),
    };
  }

  positionJson(p: SimPosition): Record<string, unknown> {
    const price = this.mark(p.symbol, p.avgEntryPrice);
    const prev = this.market.prevDailyBar(p.symbol)?.c ?? price;
    const costBasis = p.qty * p.avgEntryPrice;
    const mv = p.qty * price;
    const pl = mv - costBasis;
    const intraday = p.qty * (price - prev);
    return {
      asset_id: p.assetId,
      symbol: p.symbol,
      exchange: p.exchange,
      asset_class: 'us_equity',
      asset_marginable: true,
      qty: dec(p.qty),
      qty_available: dec(p.qty - this.heldForSale(p)),
      avg_entry_price: dec(p.avgEntryPrice, 4),
      side: p.qty >= 0 ? 'long' : 'short',
      market_value: dec(mv, 2),
      cost_basis: dec(costBasis, 2),
      unrealized_pl: dec(pl, 2),
      unrealized_plpc: dec(costBasis === 0 ? 0 : pl / Math.abs(costBasis), 6),
      unrealized_intraday_pl: dec(intraday, 2),
      unrealized_intraday_plpc: dec(prev === 0 ? 0 : (price - prev) / prev, 6),
      current_price: dec(price, 4),
      lastday_price: dec(prev, 4),
      change_today: dec(prev === 0 ? 0 : (price - prev) / prev, 6),
    };
  }

  private heldForSale(p: SimPosition): number {
    const a = [...this.accounts.values()].find((x) => x.positions.get(p.symbol) === p);
    if (!a || p.qty <= 0) return 0;
    let held = 0;
    for (const o of a.orders) if (o.symbol === p.symbol && o.side === 'sell' && OPEN_STATUSES.has(o.status)) held += this.leaves(o);
    return Math.min(held, p.qty);
  }

  accountJson(a: SimAccount): Record<string, unknown> {
    const v = this.values(a);
    const money = (n: number) => dec(n, 2);
    return {
      id: a.id,
      account_number: a.accountNumber,
      status: 'ACTIVE',
      crypto_status: 'INACTIVE',
      currency: 'USD',
      buying_power: money(v.buyingPower),
      regt_buying_power: money(v.buyingPower),
      daytrading_buying_power: money(a.multiplier >= 4 ? v.buyingPower : 0),
      effective_buying_power: money(v.buyingPower),
      non_marginable_buying_power: money(Math.max(0, a.cash - v.reserved)),
      options_buying_power: money(Math.max(0, a.cash - v.reserved)),
      bod_dtbp: '0',
      cash: money(a.cash),
      accrued_fees: '0',
      pending_transfer_in: '0',
      portfolio_value: money(v.equity),
      pattern_day_trader: false,
      trading_blocked: false,
      transfers_blocked: false,
      account_blocked: false,
      created_at: a.createdAt.toISOString(),
      trade_suspended_by_user: false,
      multiplier: String(a.multiplier),
      shorting_enabled: a.shortingEnabled,
      equity: money(v.equity),
      last_equity: money(a.startingCash),
      long_market_value: money(v.longMv),
      short_market_value: money(v.shortMv),
      position_market_value: money(v.longMv - v.shortMv),
      initial_margin: money(v.longMv * 0.5 - v.shortMv * 0.5),
      maintenance_margin: money(v.longMv * 0.3 - v.shortMv * 0.3),
      last_maintenance_margin: '0',
      sma: money(v.equity),
      daytrade_count: 0,
      balance_asof: newYork(this.clock.now()).date,
      options_approved_level: 0,
      options_trading_level: 0,
      intraday_adjustments: '0',
      pending_reg_taf_fees: '0',
    };
  }

  // ---------------------------------------------------------------- orders

  private emit(a: SimAccount, update: Omit<TradeUpdate, 'timestamp'>): void {
    const full: TradeUpdate = { ...update, timestamp: this.clock.now() };
    for (const l of this.listeners) l(a.id, full);
  }

  private touch(o: SimOrder, status?: OrderStatus): Date {
    const now = this.clock.now();
    o.updatedAt = now;
    if (status) o.status = status;
    return now;
  }

  private checkPrice(name: string, price: number | undefined): void {
    if (price === undefined) return;
    if (!Number.isFinite(price) || price <= 0) throw invalid(`invalid ${name}`);
    if (isSubPenny(price)) throw unprocessable(`invalid ${name} ${price}. sub-penny increment does not fulfill minimum pricing criteria`);
  }

  private checkClientOrderId(a: SimAccount, cid: unknown): string {
    if (cid === undefined || cid === null || cid === '') return randomUUID();
    if (typeof cid !== 'string') throw invalid('client_order_id must be a string');
    if (cid.length > 128) throw invalid('client_order_id must be no more than 128 characters');
    if (a.byClientId.has(cid)) throw invalid('client_order_id must be unique');
    return cid;
  }

  /** Buying-power and position checks of a new (or replacing) order; `excluding` is the order a replacement supersedes. */
  private checkFunds(a: SimAccount, o: SimOrder, excluding?: SimOrder): void {
    const pos = a.positions.get(o.symbol)?.qty ?? 0;
    if (o.side === 'buy') {
      const v = this.values(a);
      const available = v.buyingPower + (excluding ? this.reserved(excluding) : 0);
      const cost = this.reserved({ ...o, status: 'new' });
      if (cost > available + 1e-9) throw forbidden('insufficient buying power');
      return;
    }
    const qty = o.qty ?? (o.notional !== undefined ? o.notional / (this.reference(o.symbol, 'sell') ?? Infinity) : 0);
    let held = 0;
    for (const x of a.orders) {
      if (x !== excluding && x.symbol === o.symbol && x.side === 'sell' && OPEN_STATUSES.has(x.status)) held += this.leaves(x);
    }
    const available = Math.max(0, pos - held);
    if (qty <= available + 1e-9) return;
    if (!a.shortingEnabled) {
      if (pos <= 0) throw forbidden('account is not allowed to short');
      throw forbidden(`insufficient qty available for order (requested: ${dec(qty)}, available: ${dec(available)})`);
    }
    if (pos > 0 && qty > available) {
      throw forbidden(`insufficient qty available for order (requested: ${dec(qty)}, available: ${dec(available)})`);
    }
    const px = o.limitPrice ?? this.reference(o.symbol, 'sell') ?? 0;
    if ((qty - available) * px > this.values(a).buyingPower + 1e-9) throw forbidden('insufficient buying power');
  }

  private intent(a: SimAccount, symbol: string, side: OrderSide): string {
    const pos = a.positions.get(symbol)?.qty ?? 0;
    if (side === 'buy') return pos < 0 ? 'buy_to_close' : 'buy_to_open';
    return pos > 0 ? 'sell_to_close' : 'sell_to_open';
  }

  private expiry(tif: TimeInForce, now: Date): number | undefined {
    if (tif !== 'day' && tif !== 'opg' && tif !== 'cls') return undefined;
    const close = this.clock.nextClose(now).getTime();
    return Number.isFinite(close) && close > now.getTime() ? close : undefined;
  }

  submit(a: SimAccount, body: Record<string, unknown>): SimOrder {
    const symbol = str(body.symbol)?.toUpperCase();
    if (!symbol) throw invalid('symbol is required');
    const side = str(body.side);
    if (side !== 'buy' && side !== 'sell') throw invalid('side must be buy or sell');
    const type = str(body.type) ?? str(body.order_type);
    if (!type || !ORDER_TYPES.includes(type)) throw invalid(`invalid order type: ${String(type ?? '')}`);
    const tif = str(body.time_in_force);
    if (!tif || !TIFS.includes(tif)) throw invalid(`invalid time_in_force: ${String(tif ?? '')}`);
    const orderClass = str(body.order_class) ?? '';
    if (orderClass !== '' && orderClass !== 'simple') throw unprocessable(`order_class ${orderClass} is not supported by the simulator`);
    const qty = parseAmount(body.qty);
    const notional = parseAmount(body.notional);
    if (qty === undefined && notional === undefined) throw invalid('qty or notional is required');
    if (qty !== undefined && notional !== undefined) throw invalid('only one of qty or notional may be specified');
    if (qty !== undefined && (!Number.isFinite(qty) || qty <= 0)) throw invalid('qty must be > 0');
    if (notional !== undefined && (!Number.isFinite(notional) || notional < 1)) throw unprocessable('notional must be >= 1');
    const limitPrice = parseAmount(body.limit_price);
    const stopPrice = parseAmount(body.stop_price);
    const trailPrice = parseAmount(body.trail_price);
    const trailPercent = parseAmount(body.trail_percent);
    if ((type === 'limit' || type === 'stop_limit') && limitPrice === undefined) throw invalid('limit_price is required');
    if ((type === 'stop' || type === 'stop_limit') && stopPrice === undefined) throw invalid('stop_price is required');
    if (type === 'trailing_stop' && (trailPrice === undefined) === (trailPercent === undefined)) {
      throw invalid('exactly one of trail_price or trail_percent is required');
    }
    if (trailPrice !== undefined && !(trailPrice > 0)) throw invalid('invalid trail_price');
    if (trailPercent !== undefined && !(trailPercent > 0 && trailPercent < 100)) throw invalid('invalid trail_percent');
    this.checkPrice('limit_price', type === 'limit' || type === 'stop_limit' ? limitPrice : undefined);
    this.checkPrice('stop_price', type === 'stop' || type === 'stop_limit' ? stopPrice : undefined);
    const extendedHours = body.extended_hours === true || body.extended_hours === 'true';
    if (extendedHours && !(type === 'limit' && tif === 'day')) throw unprocessable('extended hours order must be DAY limit orders');
    if (!this.market.hasSymbol(symbol)) throw invalid(`asset "${symbol}" not found`);
    const info = this.market.symbols().find((s) => s.symbol === symbol);
    const fractional = (qty !== undefined && !Number.isInteger(qty)) || notional !== undefined;
    if (fractional) {
      if (info && !info.fractionable) throw unprocessable(`asset ${symbol} is not fractionable`);
      if (type !== 'market' || tif !== 'day') throw unprocessable('fractional orders must be DAY market orders');
    }
    const clientOrderId = this.checkClientOrderId(a, body.client_order_id);
    const now = this.clock.now();
    const o: SimOrder = {
      id: randomUUID(),
      clientOrderId,
      accountId: a.id,
      seq: ++this.seq,
      createdAt: now,
      updatedAt: now,
      submittedAt: now,
      symbol,
      assetId: stableUuid('asset', symbol),
      notional,
      qty,
      filledQty: 0,
      type: type as OrderType,
      side,
      timeInForce: tif as TimeInForce,
      limitPrice: type === 'limit' || type === 'stop_limit' ? limitPrice : undefined,
      stopPrice: type === 'stop' || type === 'stop_limit' ? stopPrice : undefined,
      trailPrice,
      trailPercent,
      extendedHours,
      status: 'accepted',
      positionIntent: this.intent(a, symbol, side),
      triggered: false,
      expiresAtMs: this.expiry(tif as TimeInForce, now),
    };
    this.checkFunds(a, o);
    this.add(a, o);
    this.route(a, o);
    return o;
  }

  private add(a: SimAccount, o: SimOrder): void {
    a.orders.push(o);
    a.byId.set(o.id, o);
    a.byClientId.set(o.clientOrderId, o);
  }

  private canTrade(o: SimOrder): boolean {
    const now = this.clock.now();
    if (this.clock.isOpen(now)) return true;
    if (!o.extendedHours) return false;
    const s = this.clock.session(newYork(now).date);
    return s !== undefined && now >= s.sessionOpen && now < s.sessionClose;
  }

  /** An accepted order reaches the (simulated) venue when the market is open: `new`, then it may fill at once. */
  private route(a: SimAccount, o: SimOrder): void {
    if (o.status === 'accepted') {
      if (!this.canTrade(o)) return;
      this.touch(o, 'new');
      this.emit(a, { event: 'new', order: o });
    }
    const q = this.market.latestQuote(o.symbol);
    this.work(a, o, q);
  }

  /** Tries to execute an open order against a quote; ioc/fok resolve on their first look at the market. */
  private work(a: SimAccount, o: SimOrder, q: SimQuote | undefined): void {
    if (o.status !== 'new' && o.status !== 'partially_filled') return;
    if (!this.canTrade(o)) return;
    const immediate = o.timeInForce === 'ioc' || o.timeInForce === 'fok';
    const halted = this.market.isHalted(o.symbol);
    if (halted || !q || !(q.ap > 0) || !(q.bp > 0)) {
      if (immediate) this.cancelInternal(a, o);
      return;
    }
    const buy = o.side === 'buy';
    const px = buy ? q.ap : q.bp;
    if (o.type === 'trailing_stop' && !o.triggered) {
      o.hwm = o.hwm === undefined ? px : buy ? Math.min(o.hwm, px) : Math.max(o.hwm, px);
      const off = o.trailPrice ?? (o.hwm * (o.trailPercent ?? 0)) / 100;
      o.stopPrice = round(buy ? o.hwm + off : o.hwm - off, 4);
    }
    if ((o.type === 'stop' || o.type === 'stop_limit' || o.type === 'trailing_stop') && !o.triggered) {
      const stop = o.stopPrice ?? 0;
      if (buy ? px >= stop : px <= stop) {
        o.triggered = true;
        this.touch(o);
      } else {
        if (immediate) this.cancelInternal(a, o);
        return;
      }
    }
    const limit = o.type === 'limit' || o.type === 'stop_limit' ? o.limitPrice : undefined;
    const marketable = limit === undefined || (buy ? px <= limit + 1e-9 : px >= limit - 1e-9);
    if (!marketable) {
      if (immediate) this.cancelInternal(a, o);
      return;
    }
    let want = o.qty === undefined ? round((o.notional ?? 0) / px, 9) : this.leaves(o);
    if (o.qty === undefined) o.qty = want;
    let available = want;
    if (this.liquidity === 'quote-size' && o.notional === undefined) {
      const used = this.consumed.get(q) ?? { ask: 0, bid: 0 };
      const size = buy ? q.as - used.ask : q.bs - used.bid;
      available = Math.max(0, Math.min(want, size));
      if (o.timeInForce === 'fok' && available < want) available = 0;
      if (available > 0) {
        if (buy) used.ask += available;
        else used.bid += available;
        this.consumed.set(q, used);
      }
    }
    want = available;
    if (want > 0) this.fill(a, o, px, want);
    if (immediate && (o.status === 'new' || o.status === 'partially_filled')) this.cancelInternal(a, o);
  }

  private fill(a: SimAccount, o: SimOrder, price: number, qty: number): void {
    const prevFilled = o.filledQty;
    o.filledQty = round(prevFilled + qty, 9);
    o.filledAvgPrice = round(((o.filledAvgPrice ?? 0) * prevFilled + price * qty) / o.filledQty, 6);
    const done = this.leaves(o) <= 1e-9;
    const now = this.touch(o, done ? 'filled' : 'partially_filled');
    if (done) o.filledAt = now;
    const signed = o.side === 'buy' ? qty : -qty;
    a.cash = round(a.cash - signed * price, 6);
    const p = a.positions.get(o.symbol);
    if (!p) {
      const info = this.market.symbols().find((s) => s.symbol === o.symbol);
      a.positions.set(o.symbol, { symbol: o.symbol, assetId: o.assetId, exchange: info?.exchange ?? 'NASDAQ', qty: signed, avgEntryPrice: price });
    } else {
      const next = round(p.qty + signed, 9);
      if (Math.abs(next) < 1e-9) a.positions.delete(o.symbol);
      else if (Math.sign(next) !== Math.sign(p.qty)) p.avgEntryPrice = price;
      else if (Math.abs(next) > Math.abs(p.qty)) p.avgEntryPrice = round((p.avgEntryPrice * Math.abs(p.qty) + price * qty) / Math.abs(next), 6);
      if (Math.abs(next) >= 1e-9) p.qty = next;
    }
    this.emit(a, {
      event: done ? 'fill' : 'partial_fill',
      order: o,
      price,
      qty,
      positionQty: a.positions.get(o.symbol)?.qty ?? 0,
      executionId: randomUUID(),
    });
  }

  private cancelInternal(a: SimAccount, o: SimOrder): void {
    o.canceledAt = this.touch(o, 'canceled');
    this.emit(a, { event: 'canceled', order: o });
  }

  isOpen(o: SimOrder): boolean {
    return OPEN_STATUSES.has(o.status);
  }

  find(a: SimAccount, id: string): SimOrder {
    const o = a.byId.get(id);
    if (!o) throw new AlpacaApiError(404, 40410000, 'order not found');
    return o;
  }

  cancel(a: SimAccount, id: string): SimOrder {
    const o = this.find(a, id);
    if (!this.isOpen(o)) throw unprocessable(`order is already in "${o.status}" state`);
    this.cancelInternal(a, o);
    return o;
  }

  cancelAll(a: SimAccount): SimOrder[] {
    const open = a.orders.filter((o) => this.isOpen(o));
    for (const o of open) this.cancelInternal(a, o);
    return open;
  }

  replace(a: SimAccount, id: string, body: Record<string, unknown>): SimOrder {
    const old = this.find(a, id);
    if (old.status !== 'new' && old.status !== 'partially_filled') throw unprocessable(`order is not replaceable (status: ${old.status})`);
    if (old.notional !== undefined) throw unprocessable('notional orders cannot be replaced');
    const qty = parseAmount(body.qty) ?? old.qty;
    if (qty === undefined || !Number.isFinite(qty) || qty <= 0) throw invalid('qty must be > 0');
    if (qty <= old.filledQty) throw unprocessable('qty must be > filled_qty');
    const tif = str(body.time_in_force) ?? old.timeInForce;
    if (!TIFS.includes(tif)) throw invalid(`invalid time_in_force: ${tif}`);
    const limitPrice = old.limitPrice === undefined ? undefined : (parseAmount(body.limit_price) ?? old.limitPrice);
    const stopPrice = old.type === 'stop' || old.type === 'stop_limit' ? (parseAmount(body.stop_price) ?? old.stopPrice) : old.stopPrice;
    const trail = parseAmount(body.trail);
    if (Number.isNaN(limitPrice) || Number.isNaN(stopPrice) || Number.isNaN(trail)) throw invalid('invalid price');
    this.checkPrice('limit_price', limitPrice);
    if (old.type !== 'trailing_stop') this.checkPrice('stop_price', stopPrice);
    const clientOrderId = this.checkClientOrderId(a, body.client_order_id);
    const now = this.clock.now();
    const next: SimOrder = {
      ...old,
      id: randomUUID(),
      clientOrderId,
      seq: ++this.seq,
      createdAt: now,
      updatedAt: now,
      submittedAt: now,
      filledAt: undefined,
      canceledAt: undefined,
      expiredAt: undefined,
      replacedAt: undefined,
      replacedBy: undefined,
      replaces: old.id,
      qty,
      timeInForce: tif as TimeInForce,
      limitPrice,
      stopPrice,
      trailPrice: old.trailPrice !== undefined && trail !== undefined ? trail : old.trailPrice,
      trailPercent: old.trailPercent !== undefined && trail !== undefined ? trail : old.trailPercent,
      status: 'accepted',
      expiresAtMs: tif === old.timeInForce ? old.expiresAtMs : this.expiry(tif as TimeInForce, now),
    };
    this.checkFunds(a, next, old);
    old.replacedAt = this.touch(old, 'replaced');
    old.replacedBy = next.id;
    this.add(a, next);
    this.emit(a, { event: 'replaced', order: old });
    this.route(a, next);
    return next;
  }

  closePosition(a: SimAccount, symbol: string, opts: { qty?: number; percentage?: number }): SimOrder {
    const p = a.positions.get(symbol.toUpperCase());
    if (!p) throw new AlpacaApiError(404, 40410000, 'position does not exist');
    let qty = Math.abs(p.qty);
    if (opts.qty !== undefined) qty = Math.min(qty, opts.qty);
    else if (opts.percentage !== undefined) qty = round((qty * opts.percentage) / 100, 9);
    if (!(qty > 0)) throw invalid('qty must be > 0');
    // Orders already working on the symbol would hold the shares: cancel them first, as Alpaca's liquidation does.
    for (const o of a.orders) if (o.symbol === p.symbol && this.isOpen(o) && o.side === (p.qty > 0 ? 'sell' : 'buy')) this.cancelInternal(a, o);
    return this.submit(a, {
      symbol: p.symbol,
      qty: dec(qty),
      side: p.qty > 0 ? 'sell' : 'buy',
      type: 'market',
      time_in_force: Number.isInteger(qty) ? 'gtc' : 'day',
    });
  }

  // ---------------------------------------------------------------- market-driven work

  /** Works the open orders of the symbols a batch of live messages quoted. */
  onMarket(batch: readonly SimMessage[]): void {
    const quotes = new Map<string, SimQuote>();
    for (const m of batch) if (m.T === 'q') quotes.set(m.S, m);
    if (quotes.size === 0) return;
    for (const a of this.accounts.values()) {
      for (const o of [...a.orders]) {
        const q = quotes.get(o.symbol);
        if (!q || !this.isOpen(o)) continue;
        if (o.status === 'accepted') this.route(a, o);
        else this.work(a, o, q);
      }
    }
  }

  /** Periodic work: day orders expire at the close, queued orders route when the market opens. */
  sweep(): void {
    const now = this.clock.now().getTime();
    for (const a of this.accounts.values()) {
      for (const o of [...a.orders]) {
        if (!this.isOpen(o)) continue;
        if (o.expiresAtMs !== undefined && now >= o.expiresAtMs) {
          o.expiredAt = this.touch(o, 'expired');
          this.emit(a, { event: 'expired', order: o });
          continue;
        }
        if (o.status === 'accepted') this.route(a, o);
      }
    }
  }
}
