// What one bench user orders next, so that (almost) every order is accepted and fills: marketable orders only, buys
// and sells alternating, a sell only against shares the user is known to hold (cash accounts cannot short) and never
// against an open order of the other side on the same symbol (MBT's wash-trade guard, row 18). The book learns the
// positions from the fill events (`position_qty`) and counts every order sent and not yet ended as open.
import { BAND, LIMIT_MARGIN, type BenchSymbol } from './market.js';

export interface OrderBody {
  symbol: string;
  qty: string;
  side: 'buy' | 'sell';
  type: 'market' | 'limit';
  time_in_force: 'day';
  limit_price?: string;
  client_order_id: string;
}

interface Open {
  symbol: string;
  side: 'buy' | 'sell';
  qty: number;
  /** The HTTP answer came (accepted, or undecided: 504, timeout, network error). */
  answered: boolean;
}

/** How an order's HTTP request ended: accepted, refused (it exists nowhere), or unknown (it may still be decided). */
export type AnswerKind = 'accepted' | 'refused' | 'unknown';

/** Events after which an order is no longer open (Alpaca trade_updates names). */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['fill', 'canceled', 'expired', 'rejected', 'replaced']);

const price = (x: number) => x.toFixed(2);

export class UserBook {
  private readonly positions = new Map<string, number>();
  private readonly open = new Map<string, Open>();
  /** Orders that ended (on the stream) before their HTTP answer arrived: the answer must not reopen them. */
  private readonly endedEarly = new Set<string>();
  private n = 0;

  constructor(
    readonly userId: string,
    private readonly symbols: readonly BenchSymbol[],
    /** Spreads users over the symbols. */
    private readonly offset: number,
  ) {}

  /**
   * The next order: every other one a sell when some symbol has shares available and no open buy, otherwise a buy on
   * a symbol without an open sell. Market and marketable limit orders alternate in pairs; sizes 1–10 shares.
   */
  next(clientOrderId: string): OrderBody {
    const k = this.n++;
    // Types alternate every two orders, offset per user: across users, as many market as limit buys and sells.
    const useLimit = ((k >> 1) + this.offset) % 2 === 1;
    const sell = k % 2 === 1 ? this.sellable() : undefined;
    if (sell) return this.body(clientOrderId, sell.symbol, 'sell', Math.min(sell.available, 1 + (k % 10)), useLimit);
    const free = this.symbols.filter((s) => !this.hasOpen(s.symbol, 'sell'));
    const pick = free.length ? free[(this.offset + (k >> 1)) % free.length]! : this.symbols[(this.offset + k) % this.symbols.length]!;
    return this.body(clientOrderId, pick, 'buy', 1 + (k % 10), useLimit);
  }

  /**
   * The HTTP answer: a refused order ends now; an accepted one stays open until a terminal event, and so does an
   * undecided one (504, timeout: it may still be accepted and filled later).
   */
  answered(clientOrderId: string, kind: AnswerKind): void {
    if (this.endedEarly.delete(clientOrderId)) return;
    const o = this.open.get(clientOrderId);
    if (!o) return;
    if (kind === 'refused') this.open.delete(clientOrderId);
    else o.answered = true;
  }

  /** A trade_updates event of this user's. */
  update(event: string, clientOrderId: string, symbol: string, positionQty: string | undefined): void {
    if (positionQty !== undefined) this.positions.set(symbol, Number(positionQty));
    if (!TERMINAL_EVENTS.has(event)) return;
    const o = this.open.get(clientOrderId);
    if (!o) return;
    this.open.delete(clientOrderId);
    // A fill may overtake the HTTP answer (the gateway relays the decision after the turn; the fill comes with the next quote).
    if (!o.answered) this.endedEarly.add(clientOrderId);
  }

  /** Orders counted open (sent, not ended). */
  openCount(): number {
    return this.open.size;
  }

  private body(clientOrderId: string, s: BenchSymbol | string, side: 'buy' | 'sell', qty: number, limit: boolean): OrderBody {
    const sym = typeof s === 'string' ? this.symbols.find((x) => x.symbol === s)! : s;
    this.open.set(clientOrderId, { symbol: sym.symbol, side, qty, answered: false });
    const body: OrderBody = { symbol: sym.symbol, qty: String(qty), side, type: limit ? 'limit' : 'market', time_in_force: 'day', client_order_id: clientOrderId };
    // Outside the recording's band on the far side: a buy limit above every ask, a sell limit below every bid.
    if (limit) body.limit_price = price(side === 'buy' ? sym.base * (1 + LIMIT_MARGIN) : sym.base * (1 - LIMIT_MARGIN));
    return body;
  }

  private hasOpen(symbol: string, side: 'buy' | 'sell'): boolean {
    for (const o of this.open.values()) if (o.symbol === symbol && o.side === side) return true;
    return false;
  }

  /** A symbol with shares held beyond what open sells already take, and no open buy on it. */
  private sellable(): { symbol: string; available: number } | undefined {
    for (const [symbol, qty] of this.positions) {
      if (qty <= 0 || this.hasOpen(symbol, 'buy')) continue;
      let selling = 0;
      for (const o of this.open.values()) if (o.symbol === symbol && o.side === 'sell') selling += o.qty;
      if (qty - selling >= 1) return { symbol, available: Math.floor(qty - selling) };
    }
    return undefined;
  }
}

// The band must leave room for the limits: a limit inside the band could rest instead of filling.
if (LIMIT_MARGIN <= BAND) throw new Error('LIMIT_MARGIN must exceed BAND');
