// Order request bodies (Alpaca `POST /v2/orders`, `PATCH /v2/orders/{id}`) → the contract's command payloads, or the
// error Alpaca would answer. The field rules are the engine's own (mbt.validateOrder), so the gateway refuses exactly
// what the engine would — before anything is appended — and the actor still decides every account rule.
import { randomUUID } from 'node:crypto';
import { mbt } from '../../../domain/index.js';
import type { AssetFacts } from '../../../infra/alpaca/index.js';
import { orderReplacePayloadSchema, orderSubmitPayloadSchema, type OrderReplacePayload, type OrderSubmitPayload } from '../../../contracts/index.js';
import { alpacaError, ALPACA_CODES, invalid, isAlpacaError, type AlpacaError } from './reply.js';

const isError = isAlpacaError;

/** Alpaca accepts numbers where it documents strings; they are kept as their shortest decimal form. */
function decimalField(body: Record<string, unknown>, name: string): string | undefined | AlpacaError {
  const v = body[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return invalid(`${name} must be a decimal string`);
}

function stringField(body: Record<string, unknown>, name: string): string | undefined | AlpacaError {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : invalid(`${name} must be a string`);
}

function clientOrderId(body: Record<string, unknown>): string | undefined | AlpacaError {
  const v = stringField(body, 'client_order_id');
  if (v === undefined || isError(v)) return v;
  if (v.length === 0) return undefined;
  if (v.length > 128) return invalid('client_order_id must be no more than 128 characters');
  return v;
}

/** The parsed JSON body as an object, or Alpaca's answer to a malformed one. */
export function parseJsonObject(text: string): Record<string, unknown> | AlpacaError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return alpacaError(400, ALPACA_CODES.malformed, 'request body format is invalid');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalid('request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/**
 * `POST /v2/orders` → `order.submit` payload: the order id is a fresh UUID, the client_order_id the client's or a
 * fresh UUID. Unknown symbols (not in the upstream asset list) → 422, like Alpaca.
 */
export function submitPayload(body: Record<string, unknown>, asset: (symbol: string) => AssetFacts | undefined): OrderSubmitPayload | AlpacaError {
  const symbolRaw = stringField(body, 'symbol');
  if (isError(symbolRaw)) return symbolRaw;
  if (symbolRaw === undefined || symbolRaw.trim() === '') return invalid('symbol is required');
  const symbol = symbolRaw.trim().toUpperCase();
  const fields: Record<string, string | undefined> = {};
  for (const name of ['side', 'type', 'time_in_force', 'order_class'] as const) {
    const v = stringField(body, name);
    if (isError(v)) return v;
    fields[name] = v;
  }
  for (const name of ['qty', 'notional', 'limit_price', 'stop_price'] as const) {
    const v = decimalField(body, name);
    if (isError(v)) return v;
    fields[name] = v;
  }
  const extended = body.extended_hours;
  if (extended !== undefined && extended !== null && typeof extended !== 'boolean') return invalid('extended_hours must be a boolean');
  const coid = clientOrderId(body);
  if (isError(coid)) return coid;

  const facts = asset(symbol);
  if (!facts || facts.status !== 'active') return invalid(`asset "${symbol.slice(0, 16)}" not found`);
  const order = {
    id: randomUUID(),
    client_order_id: coid ?? randomUUID(),
    symbol,
    side: fields.side ?? '',
    type: fields.type ?? '',
    time_in_force: fields.time_in_force ?? '',
    ...(fields.qty !== undefined ? { qty: fields.qty } : {}),
    ...(fields.notional !== undefined ? { notional: fields.notional } : {}),
    ...(fields.limit_price !== undefined ? { limit_price: fields.limit_price } : {}),
    ...(fields.stop_price !== undefined ? { stop_price: fields.stop_price } : {}),
    ...(typeof extended === 'boolean' ? { extended_hours: extended } : {}),
    ...(fields.order_class !== undefined ? { order_class: fields.order_class } : {}),
  };
  const checked = mbt.validateOrder(order, { tradable: facts.tradable, shortable: facts.shortable, easy_to_borrow: facts.easy_to_borrow, fractionable: facts.fractionable });
  if (isError(checked)) return checked;
  const parsed = orderSubmitPayloadSchema.safeParse({ order });
  return parsed.success ? parsed.data : invalid(parsed.error.issues[0]?.message ?? 'invalid order');
}

/** `PATCH /v2/orders/{id}` → `order.replace` payload (the replacement's id and client_order_id are assigned here). */
export function replacePayload(orderId: string, body: Record<string, unknown>): OrderReplacePayload | AlpacaError {
  const patch: Record<string, string> = {};
  for (const name of ['qty', 'limit_price', 'stop_price'] as const) {
    const v = decimalField(body, name);
    if (isError(v)) return v;
    if (v === undefined) continue;
    const checked = name === 'qty' ? mbt.checkQty(v) : mbt.checkPrice(name, v);
    if (isError(checked)) return checked;
    patch[name] = v;
  }
  const tif = stringField(body, 'time_in_force');
  if (isError(tif)) return tif;
  if (tif !== undefined) {
    const checked = mbt.checkTimeInForce(tif);
    if (isError(checked)) return checked;
    patch.time_in_force = tif;
  }
  if (body.trail !== undefined && body.trail !== null) return alpacaError(422, ALPACA_CODES.unprocessable, 'trailing_stop orders are not supported');
  const coid = clientOrderId(body);
  if (isError(coid)) return coid;
  if (Object.keys(patch).length === 0) return invalid('nothing to replace: send qty, time_in_force, limit_price or stop_price');
  const parsed = orderReplacePayloadSchema.safeParse({ order_id: orderId, new_order_id: randomUUID(), patch: { ...patch, client_order_id: coid ?? randomUUID() } });
  return parsed.success ? parsed.data : invalid(parsed.error.issues[0]?.message ?? 'invalid replace request');
}
