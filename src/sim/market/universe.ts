// The symbol universe: well-known tickers at plausible price levels, topped up with generated ones from the seed.
import type { SymbolInfo } from './types.js';
import { mulberry32 } from './prng.js';

// [symbol, name, listing exchange, price level]
const KNOWN: ReadonlyArray<readonly [string, string, string, number]> = [
  ['AAPL', 'Apple Inc. Common Stock', 'NASDAQ', 189], ['MSFT', 'Microsoft Corporation Common Stock', 'NASDAQ', 415],
  ['SPY', 'SPDR S&P 500 ETF Trust', 'ARCA', 512], ['QQQ', 'Invesco QQQ Trust, Series 1', 'NASDAQ', 438],
  ['AMZN', 'Amazon.com, Inc. Common Stock', 'NASDAQ', 178], ['NVDA', 'NVIDIA Corporation Common Stock', 'NASDAQ', 875],
  ['GOOGL', 'Alphabet Inc. Class A Common Stock', 'NASDAQ', 152], ['GOOG', 'Alphabet Inc. Class C Capital Stock', 'NASDAQ', 154],
  ['META', 'Meta Platforms, Inc. Class A Common Stock', 'NASDAQ', 495], ['TSLA', 'Tesla, Inc. Common Stock', 'NASDAQ', 176],
  ['BRK.B', 'Berkshire Hathaway Inc. Class B', 'NYSE', 408], ['JPM', 'JPMorgan Chase & Co. Common Stock', 'NYSE', 196],
  ['V', 'Visa Inc.', 'NYSE', 279], ['JNJ', 'Johnson & Johnson Common Stock', 'NYSE', 158],
  ['WMT', 'Walmart Inc. Common Stock', 'NYSE', 60], ['XOM', 'Exxon Mobil Corporation Common Stock', 'NYSE', 114],
  ['UNH', 'UnitedHealth Group Incorporated Common Stock', 'NYSE', 492], ['MA', 'Mastercard Incorporated Common Stock', 'NYSE', 473],
  ['PG', 'Procter & Gamble Company (The) Common Stock', 'NYSE', 160], ['HD', 'Home Depot, Inc. (The) Common Stock', 'NYSE', 372],
  ['CVX', 'Chevron Corporation Common Stock', 'NYSE', 156], ['KO', 'Coca-Cola Company (The) Common Stock', 'NYSE', 61],
  ['PEP', 'PepsiCo, Inc. Common Stock', 'NASDAQ', 170], ['ABBV', 'AbbVie Inc. Common Stock', 'NYSE', 176],
  ['MRK', 'Merck & Company, Inc. Common Stock', 'NYSE', 127], ['COST', 'Costco Wholesale Corporation Common Stock', 'NASDAQ', 728],
  ['AVGO', 'Broadcom Inc. Common Stock', 'NASDAQ', 612], ['ADBE', 'Adobe Inc. Common Stock', 'NASDAQ', 497],
  ['CRM', 'Salesforce, Inc. Common Stock', 'NYSE', 301], ['NFLX', 'Netflix, Inc. Common Stock', 'NASDAQ', 615],
  ['AMD', 'Advanced Micro Devices, Inc. Common Stock', 'NASDAQ', 178], ['INTC', 'Intel Corporation Common Stock', 'NASDAQ', 42],
  ['CSCO', 'Cisco Systems, Inc. Common Stock', 'NASDAQ', 49], ['ORCL', 'Oracle Corporation Common Stock', 'NYSE', 125],
  ['BAC', 'Bank of America Corporation Common Stock', 'NYSE', 37], ['WFC', 'Wells Fargo & Company Common Stock', 'NYSE', 57],
  ['C', 'Citigroup, Inc. Common Stock', 'NYSE', 62], ['GS', 'Goldman Sachs Group, Inc. (The) Common Stock', 'NYSE', 410],
  ['MS', 'Morgan Stanley Common Stock', 'NYSE', 92], ['T', 'AT&T Inc.', 'NYSE', 17],
  ['VZ', 'Verizon Communications Inc. Common Stock', 'NYSE', 41], ['DIS', 'Walt Disney Company (The) Common Stock', 'NYSE', 113],
  ['NKE', 'Nike, Inc. Common Stock', 'NYSE', 94], ['MCD', "McDonald's Corporation Common Stock", 'NYSE', 279],
  ['BA', 'Boeing Company (The) Common Stock', 'NYSE', 183], ['CAT', 'Caterpillar, Inc. Common Stock', 'NYSE', 360],
  ['GE', 'GE Aerospace Common Stock', 'NYSE', 165], ['F', 'Ford Motor Company Common Stock', 'NYSE', 13],
  ['GM', 'General Motors Company Common Stock', 'NYSE', 45], ['UBER', 'Uber Technologies, Inc. Common Stock', 'NYSE', 74],
  ['PLTR', 'Palantir Technologies Inc. Class A Common Stock', 'NYSE', 24], ['SOFI', 'SoFi Technologies, Inc. Common Stock', 'NASDAQ', 7],
  ['PYPL', 'PayPal Holdings, Inc. Common Stock', 'NASDAQ', 66], ['SQ', 'Block, Inc. Class A Common Stock', 'NYSE', 79],
  ['COIN', 'Coinbase Global, Inc. Class A Common Stock', 'NASDAQ', 245], ['SNAP', 'Snap Inc. Class A Common Stock', 'NYSE', 11],
  ['RIVN', 'Rivian Automotive, Inc. Class A Common Stock', 'NASDAQ', 10], ['LCID', 'Lucid Group, Inc. Common Stock', 'NASDAQ', 3],
  ['NIO', 'NIO Inc. American depositary shares', 'NYSE', 5], ['AMC', 'AMC Entertainment Holdings, Inc. Class A', 'NYSE', 4],
  ['GME', 'GameStop Corporation Common Stock', 'NYSE', 14], ['IWM', 'iShares Russell 2000 ETF', 'ARCA', 206],
  ['DIA', 'SPDR Dow Jones Industrial Average ETF Trust', 'ARCA', 391], ['TLT', 'iShares 20+ Year Treasury Bond ETF', 'NASDAQ', 94],
  ['GLD', 'SPDR Gold Trust, SPDR Gold Shares', 'ARCA', 201], ['XLF', 'Financial Select Sector SPDR Fund', 'ARCA', 41],
  ['XLE', 'Energy Select Sector SPDR Fund', 'ARCA', 95], ['VTI', 'Vanguard Total Stock Market ETF', 'ARCA', 256],
  ['VOO', 'Vanguard S&P 500 ETF', 'ARCA', 470], ['ARKK', 'ARK Innovation ETF', 'ARCA', 48],
  ['SMCI', 'Super Micro Computer, Inc. Common Stock', 'NASDAQ', 880], ['MU', 'Micron Technology, Inc. Common Stock', 'NASDAQ', 118],
  ['QCOM', 'QUALCOMM Incorporated Common Stock', 'NASDAQ', 168], ['TXN', 'Texas Instruments Incorporated Common Stock', 'NASDAQ', 172],
  ['IBM', 'International Business Machines Corporation Common Stock', 'NYSE', 190], ['SBUX', 'Starbucks Corporation Common Stock', 'NASDAQ', 88],
  ['ABNB', 'Airbnb, Inc. Class A Common Stock', 'NASDAQ', 162], ['SHOP', 'Shopify Inc. Class A Subordinate Voting Shares', 'NYSE', 77],
  ['AAL', 'American Airlines Group, Inc. Common Stock', 'NASDAQ', 15], ['CCL', 'Carnival Corporation Common Stock', 'NYSE', 16],
];

const LISTING_EXCHANGES = ['NYSE', 'NASDAQ', 'NASDAQ', 'NASDAQ', 'ARCA', 'AMEX', 'BATS'] as const;
const NAME_WORDS = ['Global', 'American', 'United', 'Pacific', 'Atlantic', 'Advanced', 'Digital', 'First', 'National', 'Quantum', 'Northern', 'Summit', 'Apex', 'Harbor', 'Blue'];
const NAME_KINDS = ['Holdings, Inc.', 'Corporation', 'Technologies, Inc.', 'Therapeutics, Inc.', 'Energy Corp.', 'Bancorp', 'Group Ltd.', 'Industries, Inc.'];
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The well-known tickers first (most active), then generated ones, `count` in all; `FAKEPACA` is never included. */
export function buildUniverse(seed: number, count: number): SymbolInfo[] {
  const out: SymbolInfo[] = [];
  const seen = new Set<string>(['FAKEPACA']);
  for (const [symbol, name, exchange, basePrice] of KNOWN) {
    if (out.length >= count) break;
    seen.add(symbol);
    out.push({ symbol, name, exchange, basePrice, fractionable: basePrice >= 5 });
  }
  const rng = mulberry32(seed ^ 0x5eed1234);
  while (out.length < count) {
    const len = 2 + rng.int(3) + (rng.next() < 0.3 ? 1 : 0); // 2–5 letters, mostly 3–4
    let symbol = '';
    for (let i = 0; i < len; i++) symbol += LETTERS[rng.int(26)];
    if (seen.has(symbol)) continue;
    seen.add(symbol);
    // log-uniform between $2 and $900
    const basePrice = Math.round(Math.exp(Math.log(2) + rng.next() * (Math.log(900) - Math.log(2))) * 100) / 100;
    const name = `${rng.pick(NAME_WORDS)} ${symbol.charAt(0)}${symbol.slice(1).toLowerCase()} ${rng.pick(NAME_KINDS)}`;
    out.push({ symbol, name, exchange: rng.pick(LISTING_EXCHANGES), basePrice, fractionable: basePrice >= 5 && rng.next() < 0.8 });
  }
  return out;
}

export const FAKEPACA: SymbolInfo = { symbol: 'FAKEPACA', name: 'Alpaca test symbol', exchange: 'NASDAQ', basePrice: 100, fractionable: true };
