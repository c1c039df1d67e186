// Options of the simulated market, with the defaults the composition root maps env vars onto.

export interface MarketOptions {
  /** PRNG seed: same seed + same clock instants ⇒ byte-identical output. */
  seed: number;
  /** Size of the synthetic universe (well-known tickers first, then generated ones). At least 1. */
  symbols: number;
  /** Explicit symbol list instead of the generated universe (e.g. `['FAKEPACA']`). */
  symbolList?: readonly string[];
  /** Quotes + trades generated per second of clock time (bars, statuses and LULDs come on top). */
  ratePerSecond: number;
  /** Batch period of the live timer in ms (each batch carries the messages of that interval). */
  batchMs: number;
  /** Probability per symbol per minute that a symbol halts (news pending / volatility pause). */
  haltProbability: number;
  /** How many minutes a random halt lasts before the resume. */
  haltMinutes: number;
  /** Probability that a trade is reported late (stamped in the previous minute, amending its bar with a `u`). */
  lateTradeProbability: number;
  /** Only generate while the clock says the regular session is open (always true for an always-open clock). */
  sessionOnly: boolean;
  /** Replay this JSON Lines recording instead of synthesising data. */
  replayFile?: string;
  /** Replay pace: 1 = recorded pace, 2 = twice as fast, 0 = as fast as possible. */
  replaySpeed: number;
  /** Replay from the start again when the file ends. */
  replayLoop: boolean;
  /** Shift replayed timestamps so the first message is stamped with the replay start (keeps sub-second digits); false keeps recorded times. */
  replayRestamp: boolean;
}

export const DEFAULT_MARKET_OPTIONS: Readonly<MarketOptions> = Object.freeze({
  seed: 42,
  symbols: 500,
  ratePerSecond: 1000,
  batchMs: 10,
  haltProbability: 0.0002,
  haltMinutes: 5,
  lateTradeProbability: 0.002,
  sessionOnly: true,
  replaySpeed: 1,
  replayLoop: false,
  replayRestamp: true,
});

export function resolveMarketOptions(options: Partial<MarketOptions> = {}): MarketOptions {
  const o: MarketOptions = { ...DEFAULT_MARKET_OPTIONS, ...stripUndefined(options) };
  if (!Number.isInteger(o.seed)) throw new RangeError('market seed must be an integer');
  if (!(o.symbols >= 1)) throw new RangeError('market symbols must be >= 1');
  if (!(o.ratePerSecond >= 0)) throw new RangeError('market ratePerSecond must be >= 0');
  if (!(o.batchMs >= 1)) throw new RangeError('market batchMs must be >= 1');
  if (!(o.haltProbability >= 0 && o.haltProbability <= 1)) throw new RangeError('market haltProbability must be in [0, 1]');
  if (!(o.replaySpeed >= 0)) throw new RangeError('market replaySpeed must be >= 0');
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
