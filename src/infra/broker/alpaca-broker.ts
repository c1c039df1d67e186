// The broker port over Alpaca's trading REST v2 with a user's OAuth token, through the official SDK's generated
// trading API classes. The SDK sends `Authorization: Bearer`, never retries (retry is opt-in on a raw Configuration
// and never applies to POST), has no client-side rate limiter unless asked, refuses redirects, and enforces one
// deadline per attempt that covers connect, answer and body. Answers are read raw and parsed with our own schemas, so
// the wire's decimal strings stay strings.
import { ApiError, FetchError, trading } from '@alpacahq/alpaca-trade-api';
import type { z } from 'zod';
import {
  brokerAccountSchema,
  brokerOrderSchema,
  brokerPositionSchema,
  type BrokerAccount,
  type BrokerAdapter,
  type BrokerOrder,
  type BrokerOrderRequest,
  type BrokerPosition,
} from './broker.js';
import { BrokerError } from './errors.js';

export interface AlpacaBrokerOptions {
  /** Trading host, e.g. https://api.alpaca.markets (config.alpaca.tradingUrl; the simulator's URL in dev/test). */
  baseUrl: string;
  /** Deadline of each call: connect, answer and body. */
  timeoutMs: number;
  /** The fetch the SDK uses (default: global fetch). */
  fetch?: typeof fetch;
}

/** submit: an unanswered request may have placed an order. cancel/read: safe to repeat. */
type Op = 'submit' | 'cancel' | 'read';

/**
 * Failures that happen before a single byte of the request can have reached the broker: DNS, refused or unreachable
 * connect, undici's own connect timeout, TLS handshake. Anything else after the request left (reset, "other side
 * closed", our deadline) may have been processed.
 */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

interface CauseLink {
  name: string;
  code: string;
  message: string;
}

function causeChain(err: unknown): CauseLink[] {
  const out: CauseLink[] = [];
  let cur: unknown = err;
  for (let depth = 0; depth < 6 && typeof cur === 'object' && cur !== null; depth++) {
    const o = cur as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
    out.push({ name: String(o.name ?? ''), code: String(o.code ?? ''), message: String(o.message ?? '') });
    cur = o.cause;
  }
  return out;
}

/** The link that proves nothing was sent, if any. */
function connectFailure(chain: CauseLink[]): CauseLink | undefined {
  return chain.find(
    (l) =>
      CONNECT_CODES.has(l.code) ||
      l.code.startsWith('ERR_TLS_') ||
      l.code.includes('CERT') ||
      // fetch refuses "bad ports" before it opens a socket.
      l.message === 'bad port',
  );
}

/** The broker's words, capped; the token is cut out should a broker ever echo it. */
function brokerWords(text: string, token: string): string | undefined {
  const t = text.trim();
  if (!t || t.startsWith('Response returned an error code') || t.startsWith('<')) return undefined;
  const safe = token ? t.split(token).join('[redacted]') : t;
  return safe.length > 300 ? `${safe.slice(0, 300)}…` : safe;
}

function numericCode(code: number | string | undefined): number | undefined {
  const n = typeof code === 'number' ? code : typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : NaN;
  return Number.isInteger(n) ? n : undefined;
}

function fromApiError(e: ApiError, op: Op, token: string): BrokerError {
  const status = e.status;
  const brokerCode = numericCode(e.code);
  const reason = brokerWords(e.message, token);
  const tag = `HTTP ${status}${brokerCode === undefined ? '' : ` ${brokerCode}`}`;
  if (status === 401) return new BrokerError('needs_reauth', `the broker no longer accepts this authorization (${tag})`, { status, brokerCode });
  if (status === 429) {
    return new BrokerError('broker_rate_limited', `the broker's rate limit was reached (${tag})`, { status, brokerCode, retryAfterMs: e.retryAfterMs });
  }
  if (status >= 500) {
    // A 5xx on submit may come from a proxy or gateway after the broker's order service took the order (502/504 in
    // particular), so it is treated like no answer at all: reconcile by client_order_id.
    if (op === 'submit') return new BrokerError('broker_in_doubt', `the broker failed while taking the order (${tag}); it may exist`, { status, brokerCode });
    return new BrokerError('broker_unavailable', `the broker is failing (${tag})`, { status, brokerCode });
  }
  return new BrokerError('broker_rejected', `the broker refused the request (${tag})${reason ? `: ${reason}` : ''}`, { status, brokerCode, reason });
}

/** Maps anything a call can throw to a BrokerError; raw errors are not kept as `cause` (loggers serialise causes). */
function toBrokerError(err: unknown, op: Op, token: string): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof ApiError) return fromApiError(err, op, token);
  const chain = causeChain(err);
  const timedOut = chain.some((l) => l.name === 'TimeoutError');
  const what = timedOut ? 'no answer before the deadline' : err instanceof FetchError ? 'the connection failed' : 'the answer could not be read';
  const connect = connectFailure(chain);
  if (connect) return new BrokerError('broker_unavailable', `the broker could not be reached (${connect.code || connect.message}); nothing was sent`);
  if (op === 'submit') return new BrokerError('broker_in_doubt', `the order was sent but ${what}; it may exist`);
  return new BrokerError('broker_unavailable', `the broker call failed: ${what}`);
}

function parseAnswer<T>(schema: z.ZodType<T>, body: unknown, op: Op, what: string): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  // The broker took the submit (2xx) but we cannot read what it made of it: the order may exist.
  if (op === 'submit') throw new BrokerError('broker_in_doubt', 'the broker answered the order with an unexpected shape; it may exist');
  throw new BrokerError('broker_unavailable', `the broker's ${what} answer has an unexpected shape`);
}

export function createAlpacaBroker(o: AlpacaBrokerOptions): BrokerAdapter {
  const basePath = o.baseUrl.replace(/\/+$/, '');

  // A Configuration per call: the token is per user, and a Configuration is a plain object (no pool, no timers).
  function configuration(token: string): trading.Configuration {
    return new trading.Configuration({
      basePath,
      accessToken: token,
      timeoutMs: o.timeoutMs,
      redirect: 'error',
      ...(o.fetch ? { fetchApi: o.fetch } : {}),
    });
  }
  const orders = (token: string) => new trading.OrdersApi(configuration(token));

  /** One HTTP request, its JSON body read under the same deadline; every failure mapped. */
  async function json(op: Op, token: string, send: () => Promise<{ raw: Response }>): Promise<unknown> {
    try {
      const res = await send();
      return await res.raw.json();
    } catch (e) {
      throw toBrokerError(e, op, token);
    }
  }

  return {
    name: 'alpaca',

    async submitOrder(token: string, order: BrokerOrderRequest): Promise<BrokerOrder> {
      const body = await json('submit', token, () =>
        orders(token).postOrderRaw({
          postOrderRequest: {
            symbol: order.symbol,
            side: order.side,
            qty: order.qty,
            type: order.type,
            timeInForce: order.time_in_force,
            limitPrice: order.limit_price,
            stopPrice: order.stop_price,
            clientOrderId: order.client_order_id,
          },
        }),
      );
      return parseAnswer(brokerOrderSchema, body, 'submit', 'order');
    },

    async cancelOrder(token: string, brokerOrderId: string): Promise<void> {
      try {
        const res = await orders(token).deleteOrderByOrderIDRaw({ orderId: brokerOrderId });
        await res.value();
      } catch (e) {
        throw toBrokerError(e, 'cancel', token);
      }
    },

    async getOrder(token: string, brokerOrderId: string): Promise<BrokerOrder> {
      const body = await json('read', token, () => orders(token).getOrderByOrderIDRaw({ orderId: brokerOrderId }));
      return parseAnswer(brokerOrderSchema, body, 'read', 'order');
    },

    async getOrderByClientOrderId(token: string, clientOrderId: string): Promise<BrokerOrder | undefined> {
      let body: unknown;
      try {
        const res = await orders(token).getOrderByClientOrderIdRaw({ clientOrderId });
        body = await res.raw.json();
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return undefined;
        throw toBrokerError(e, 'read', token);
      }
      return parseAnswer(brokerOrderSchema, body, 'read', 'order');
    },

    async getPositions(token: string): Promise<BrokerPosition[]> {
      const body = await json('read', token, () => new trading.PositionsApi(configuration(token)).getAllOpenPositionsRaw());
      return parseAnswer(brokerPositionSchema.array(), body, 'read', 'positions');
    },

    async getAccount(token: string): Promise<BrokerAccount> {
      const body = await json('read', token, () => new trading.AccountsApi(configuration(token)).getAccountRaw());
      return parseAnswer(brokerAccountSchema, body, 'read', 'account');
    },
  };
}
