// Synthetic option chains for a few underlyings: OCC symbols, Black-Scholes prices and greeks from a seeded volatility.

export interface OptionContract {
  symbol: string;
  underlying: string;
  type: 'call' | 'put';
  strike: number;
  /** YYYY-MM-DD */
  expiration: string;
}

export interface OptionSnapshot {
  latestQuote: { ap: number; as: number; ax: string; bp: number; bs: number; bx: string; c: string; t: string };
  latestTrade: { c: string; p: number; s: number; t: string; x: string };
  greeks: { delta: number; gamma: number; rho: number; theta: number; vega: number };
  impliedVolatility: number;
}

const RATE = 0.04;

/** OCC symbology: root + YYMMDD + C/P + strike × 1000 in 8 digits. */
export function occSymbol(root: string, expiration: string, type: 'call' | 'put', strike: number): string {
  const yymmdd = expiration.slice(2).replaceAll('-', '');
  return `${root}${yymmdd}${type === 'call' ? 'C' : 'P'}${String(Math.round(strike * 1000)).padStart(8, '0')}`;
}

/** The next `count` Friday expirations after `today` (YYYY-MM-DD). */
export function fridayExpirations(today: string, count: number): string[] {
  const out: string[] = [];
  const d = new Date(`${today}T00:00:00Z`);
  while (out.length < count) {
    d.setUTCDate(d.getUTCDate() + 1);
    if (d.getUTCDay() === 5) out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

function strikeStep(spot: number): number {
  if (spot < 25) return 0.5;
  if (spot < 100) return 1;
  if (spot < 250) return 2.5;
  return 5;
}

export function chainContracts(underlying: string, spot: number, today: string, expirations = 4, strikesEachSide = 10): OptionContract[] {
  const step = strikeStep(spot);
  const atm = Math.round(spot / step) * step;
  const out: OptionContract[] = [];
  for (const expiration of fridayExpirations(today, expirations)) {
    for (let i = -strikesEachSide; i <= strikesEachSide; i++) {
      const strike = Number((atm + i * step).toFixed(2));
      if (strike <= 0) continue;
      for (const type of ['call', 'put'] as const) out.push({ symbol: occSymbol(underlying, expiration, type, strike), underlying, type, strike, expiration });
    }
  }
  return out.sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
}

function normCdf(x: number): number {
  // Abramowitz–Stegun 7.1.26 via erf; accurate to ~1e-7, plenty for a simulator.
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return 0.5 * (1 + Math.sign(x) * y);
}
const normPdf = (x: number) => Math.exp(-(x * x) / 2) / Math.sqrt(2 * Math.PI);

export function priceContract(c: OptionContract, spot: number, iv: number, nowMs: number): { price: number; greeks: OptionSnapshot['greeks'] } {
  const expiryMs = Date.parse(`${c.expiration}T21:00:00Z`);
  const t = Math.max((expiryMs - nowMs) / (365 * 86_400_000), 1 / (365 * 24));
  const sqrtT = Math.sqrt(t);
  const d1 = (Math.log(spot / c.strike) + (RATE + (iv * iv) / 2) * t) / (iv * sqrtT);
  const d2 = d1 - iv * sqrtT;
  const disc = Math.exp(-RATE * t);
  const call = c.type === 'call';
  const price = call ? spot * normCdf(d1) - c.strike * disc * normCdf(d2) : c.strike * disc * normCdf(-d2) - spot * normCdf(-d1);
  const greeks = {
    delta: call ? normCdf(d1) : normCdf(d1) - 1,
    gamma: normPdf(d1) / (spot * iv * sqrtT),
    theta: (-(spot * normPdf(d1) * iv) / (2 * sqrtT) - (call ? 1 : -1) * RATE * c.strike * disc * normCdf(call ? d2 : -d2)) / 365,
    vega: (spot * normPdf(d1) * sqrtT) / 100,
    rho: ((call ? 1 : -1) * c.strike * t * disc * normCdf(call ? d2 : -d2)) / 100,
  };
  return { price: Math.max(price, 0.01), greeks };
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

export function optionSnapshot(c: OptionContract, spot: number, iv: number, nowMs: number, timestamp: string): OptionSnapshot {
  const { price, greeks } = priceContract(c, spot, iv, nowMs);
  const tick = price < 3 ? 0.01 : 0.05;
  const half = Math.max(tick, round(price * 0.02, 2));
  const bid = Math.max(0.01, round(Math.floor((price - half) / tick) * tick, 2));
  const ask = round(Math.ceil((price + half) / tick) * tick, 2);
  return {
    latestQuote: { ap: ask, as: 10, ax: 'C', bp: bid, bs: 10, bx: 'C', c: 'A', t: timestamp },
    latestTrade: { c: 'I', p: round((bid + ask) / 2, 2), s: 1, t: timestamp, x: 'C' },
    greeks: { delta: round(greeks.delta, 4), gamma: round(greeks.gamma, 4), rho: round(greeks.rho, 4), theta: round(greeks.theta, 4), vega: round(greeks.vega, 4) },
    impliedVolatility: round(iv, 4),
  };
}
