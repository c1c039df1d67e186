// The simulator's market clock: the NYSE calendar computed from the exchange's rules, or always open.

export interface TradingSession {
  /** Exchange date, YYYY-MM-DD (America/New_York). */
  date: string;
  /** Regular session open and close as UTC instants (close is 13:00 ET on early-close days). */
  open: Date;
  close: Date;
  /** Extended hours: 04:00–09:30 ET pre-market and close–20:00 ET after-hours. */
  sessionOpen: Date;
  sessionClose: Date;
}

export interface MarketClock {
  /** System time plus the shared offset (CLOCK_OFFSET_MS). */
  now(): Date;
  /** Is the regular session open at `at` (default now)? Always true in always-open mode. */
  isOpen(at?: Date): boolean;
  /** The session of an exchange date, or undefined for weekends and holidays. */
  session(date: string): TradingSession | undefined;
  /** Sessions with date in [start, end] (YYYY-MM-DD, inclusive), oldest first. */
  calendar(start: string, end: string): TradingSession[];
  nextOpen(at?: Date): Date;
  nextClose(at?: Date): Date;
}
