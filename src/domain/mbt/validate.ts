// Order field rules (rows 1, 2, 11, 16): what Alpaca rejects with 422 before any account rule is looked at.
import { invalid, unprocessable } from './errors.js';
import type { AssetInfo, OrderRequest } from './inputs.js';
import { d, decimalsOf, DECIMAL_RE, str } from './money.js';
import type { OrderType, Side, TimeInForce } from './state.js';
import type { ApiError } from './outputs.js';

export interface ValidOrder {
  symbol: string;
  side: Side;
  type: OrderType;
  time_in_force: TimeInForce;
  qty: string | null;
  notional: string | null;
  limit_price: string | null;
  stop_price: string | null;
  extended_hours: boolean;
  fractional: boolean;
}

const TYPES: readonly string[] = ['market', 'limit', 'stop', 'stop_limit'];
const TIFS: readonly string[] = ['day', 'gtc', 'ioc', 'fok'];

/** Sub-penny rule: prices ≥ $1 in cents, below $1 up to 4 decimals. */
export function checkPrice(name: string, raw: string | undefined): ApiError | string | null {
  if (raw === undefined) return null;
  if (!DECIMAL_RE.test(raw) || !d(raw).gt(0)) return invalid(`invalid ${name}`);
  const places = decimalsOf(str(d(raw)));
  if (places > (d(raw).gte(1) ? 2 : 4)) {
    return unprocessable(`invalid ${name} ${raw}. sub-penny increment does not fulfill minimum pricing criteria`);
  }
  return str(d(raw));
}

/** Qty: positive, at most 9 decimals. */
export function checkQty(raw: string): ApiError | string {
  if (!DECIMAL_RE.test(raw) || !d(raw).gt(0)) return invalid('qty must be > 0');
  if (decimalsOf(str(d(raw))) > 9) return invalid('qty must have at most 9 decimal places');
  return str(d(raw));
}

export function checkTimeInForce(raw: string): ApiError | TimeInForce {
  if (raw === 'opg' || raw === 'cls') return unprocessable(`time_in_force ${raw} is not supported (no auction model)`);
  if (!TIFS.includes(raw)) return invalid(`invalid time_in_force: ${raw}`);
  return raw as TimeInForce;
}

const isError = (v: unknown): v is ApiError => typeof v === 'object' && v !== null && 'status' in v;

export function validateOrder(req: OrderRequest, asset: AssetInfo): ValidOrder | ApiError {
  if (req.order_class !== undefined && req.order_class !== '' && req.order_class !== 'simple') {
    return unprocessable(`order_class ${req.order_class} is not supported`);
  }
  if (req.side !== 'buy' && req.side !== 'sell') return invalid(`invalid side: ${req.side}`);
  if (req.type === 'trailing_stop') return unprocessable('trailing_stop orders are not supported');
  if (!TYPES.includes(req.type)) return invalid(`invalid order type: ${req.type}`);
  const type = req.type as OrderType;
  const tif = checkTimeInForce(req.time_in_force);
  if (isError(tif)) return tif;
  if (req.qty !== undefined && req.notional !== undefined) return invalid('only one of qty or notional may be specified');
  if (req.qty === undefined && req.notional === undefined) return invalid('qty or notional is required');
  let qty: string | null = null;
  let notional: string | null = null;
  if (req.qty !== undefined) {
    const q = checkQty(req.qty);
    if (isError(q)) return q;
    qty = q;
  } else if (req.notional !== undefined) {
    if (!DECIMAL_RE.test(req.notional)) return invalid('invalid notional');
    if (d(req.notional).lt(1)) return unprocessable('notional must be >= 1');
    if (decimalsOf(str(d(req.notional))) > 2) return unprocessable('notional must have at most 2 decimal places');
    notional = str(d(req.notional));
  }
  const needsLimit = type === 'limit' || type === 'stop_limit';
  const needsStop = type === 'stop' || type === 'stop_limit';
  if (needsLimit && req.limit_price === undefined) return invalid('limit_price is required');
  if (needsStop && req.stop_price === undefined) return invalid('stop_price is required');
  const limit = needsLimit ? checkPrice('limit_price', req.limit_price) : null;
  if (isError(limit)) return limit;
  const stop = needsStop ? checkPrice('stop_price', req.stop_price) : null;
  if (isError(stop)) return stop;
  const extended = req.extended_hours === true;
  if (extended && !(type === 'limit' && tif === 'day')) return unprocessable('extended hours order must be DAY limit orders');
  const fractional = notional !== null || (qty !== null && !d(qty).isInteger());
  if (fractional) {
    if (type !== 'market' || tif !== 'day') return unprocessable('fractional orders must be DAY market orders');
    if (!asset.fractionable) return unprocessable(`asset ${req.symbol} is not fractionable`);
  }
  if (!asset.tradable) return unprocessable(`asset ${req.symbol} is not tradable`);
  return {
    symbol: req.symbol,
    side: req.side,
    type,
    time_in_force: tif,
    qty,
    notional,
    limit_price: limit,
    stop_price: stop,
    extended_hours: extended,
    fractional,
  };
}

/** The payload identity behind client_order_id idempotency (the supplied order id is not part of it). */
export function fingerprint(req: OrderRequest): string {
  const norm = (v: string | undefined) => (v !== undefined && DECIMAL_RE.test(v) ? str(d(v)) : (v ?? null));
  return JSON.stringify([
    req.symbol,
    req.side,
    req.type,
    req.time_in_force,
    norm(req.qty),
    norm(req.notional),
    norm(req.limit_price),
    norm(req.stop_price),
    req.extended_hours === true,
    req.order_class ?? '',
  ]);
}
