// What the engine reads of an account's past beyond its state. The caller keeps it, so the state (copied by every
// step and saved by every turn) holds only what is open and does not grow with the orders an account ever placed.
import type { OrderView } from './outputs.js';

/**
 * The account's past orders, read-only to the engine:
 * - every client_order_id its orders used → [order id, request fingerprint] (row 24: resubmits are idempotent and ids
 *   are never reused), and so every order id ever created;
 * - closed orders as their last output showed them, for a cancel or replace that names one (422 with Alpaca's
 *   `order_cancel_rejected` / `order_replace_rejected`, instead of 404 for an unknown order).
 * A step returns what to add (`StepResult.clientIds`, `StepResult.closed`).
 */
export interface OrderHistory {
  clientId(clientOrderId: string): readonly [orderId: string, fingerprint: string] | undefined;
  hasOrder(orderId: string): boolean;
  closedOrder(orderId: string): OrderView | undefined;
}

/** One client order id a step used for a new order. */
export interface ClientIdEntry {
  clientOrderId: string;
  orderId: string;
  fingerprint: string;
}

export const NO_HISTORY: OrderHistory = { clientId: () => undefined, hasOrder: () => false, closedOrder: () => undefined };

/**
 * An `OrderHistory` in memory, grown with each step's result. Unbounded by default (a replay keeps the whole log's).
 * `bounds` make it a cache for a caller that fetches what a command names before stepping it (the account actor):
 * the oldest client order ids and closed orders leave first.
 */
export class MemoryHistory implements OrderHistory {
  private readonly ids = new Map<string, readonly [string, string]>();
  private readonly orderIds = new Set<string>();
  private readonly closed = new Map<string, OrderView>();
  private readonly maxIds: number;
  private readonly maxClosed: number;

  constructor(bounds: { maxIds?: number; maxClosed?: number } = {}) {
    this.maxIds = bounds.maxIds ?? Infinity;
    this.maxClosed = bounds.maxClosed ?? Infinity;
  }

  clientId(clientOrderId: string): readonly [string, string] | undefined {
    return this.ids.get(clientOrderId);
  }

  hasOrder(orderId: string): boolean {
    return this.orderIds.has(orderId);
  }

  closedOrder(orderId: string): OrderView | undefined {
    return this.closed.get(orderId);
  }

  /** Adds what a step returned (or what a caller loaded: ids of stored orders, closed orders it fetched). */
  add(clientIds: readonly ClientIdEntry[], closed: readonly OrderView[] = []): void {
    for (const e of clientIds) {
      this.ids.delete(e.clientOrderId); // re-inserted as the newest
      this.ids.set(e.clientOrderId, [e.orderId, e.fingerprint]);
      this.orderIds.add(e.orderId);
      if (this.ids.size > this.maxIds) {
        const [oldest, [orderId]] = this.ids.entries().next().value!;
        this.ids.delete(oldest);
        this.orderIds.delete(orderId);
      }
    }
    for (const o of closed) {
      this.closed.delete(o.id); // re-inserted as the newest
      this.closed.set(o.id, o);
      if (this.closed.size > this.maxClosed) this.closed.delete(this.closed.keys().next().value!);
    }
  }

  /** Client order ids known. */
  get size(): number {
    return this.ids.size;
  }
}
