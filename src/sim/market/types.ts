// The simulated market as other parts of the simulator see it (REST, trading fills): plain Alpaca-shaped data.

/** Nanoseconds since the Unix epoch (Alpaca timestamps carry nanoseconds). */
export type Nanos = bigint;

export interface SymbolInfo {
  symbol: string;
  name: string;
  /** Listing exchange code as Alpaca's assets API shows it: NYSE, NASDAQ, ARCA, AMEX, BATS. */
  exchange: string;
  /** Price the synthetic market started from (a plausible level for the symbol). */
  basePrice: number;
  fractionable: boolean;
}

export interface SimQuote { T: 'q'; S: string; bx: string; bp: number; bs: number; ax: string; ap: number; as: number; c: string[]; z: string; t: Nanos }
export interface SimTrade { T: 't'; S: string; i: number; x: string; p: number; s: number; c: string[]; z: string; t: Nanos }
/** T: 'b' minute bar, 'u' updated minute bar, 'd' daily bar. */
export interface SimBar { T: 'b' | 'u' | 'd'; S: string; o: number; h: number; l: number; c: number; v: number; n: number; vw: number; t: Nanos }
export interface SimStatus { T: 's'; S: string; sc: string; sm: string; rc: string; rm: string; z: string; t: Nanos }
export interface SimLuld { T: 'l'; S: string; u: number; d: number; i: string; z: string; t: Nanos }
export type SimMessage = SimQuote | SimTrade | SimBar | SimStatus | SimLuld;

export interface MarketState {
  symbols(): readonly SymbolInfo[];
  hasSymbol(symbol: string): boolean;
  latestQuote(symbol: string): SimQuote | undefined;
  latestTrade(symbol: string): SimTrade | undefined;
  latestMinuteBar(symbol: string): SimBar | undefined;
  dailyBar(symbol: string): SimBar | undefined;
  prevDailyBar(symbol: string): SimBar | undefined;
  isHalted(symbol: string): boolean;
  /** Deterministic history: bars of `timeframe` ('1Min' | '5Min' | '15Min' | '1Hour' | '1Day') between two instants, oldest first. */
  historicalBars(symbol: string, timeframe: string, start: Nanos, end: Nanos, limit: number): SimBar[];
  /** Every batch of live messages the market emits, in order. Returns an unsubscribe function. */
  subscribe(listener: (batch: readonly SimMessage[]) => void): () => void;
}

/** What the simulator itself drives on top of `MarketState`: the live timer, manual steps and halts (stream fault injection). */
export interface SimMarket extends MarketState {
  /** Start the live timer (one batch every `batchMs` up to `clock.now()`). Idempotent. */
  start(): void;
  /** Stop the live timer. Idempotent. */
  stop(): void;
  /** Generate (and emit to subscribers) everything between the previous step and `to` (Date or epoch ms); returns that batch. */
  step(to: Date | number): readonly SimMessage[];
  /** Halt a symbol now (emits a status message); false for unknown or already halted symbols. */
  halt(symbol: string, reason?: 'news' | 'volatility'): boolean;
  /** Resume a halted symbol now (emits a status message and a fresh LULD band); false if it was not halted. */
  resume(symbol: string): boolean;
}
