// The tier table of DESIGN §4 as the gateway enforces it.
import { describe, expect, it } from 'vitest';
import { grantFor, type MarketChannel, type Tier } from '../../src/domain/index.js';

const table: Array<[Tier, MarketChannel, ReturnType<typeof grantFor>]> = [
  ['free', 'quotes', { line: 'dl' }],
  ['free', 'trades', { line: 'dl' }],
  ['free', 'statuses', { line: 'dl' }],
  ['free', 'bars', { refused: 'tier_required', requiredTier: 'pro' }],
  ['free', 'updatedBars', { refused: 'tier_required', requiredTier: 'pro' }],
  ['free', 'dailyBars', { refused: 'tier_required', requiredTier: 'pro' }],
  ['free', 'lulds', { refused: 'tier_required', requiredTier: 'pro' }],
  ['free', 'depth', { refused: 'tier_required', requiredTier: 'pro_plus' }],
  ['pro', 'quotes', { line: 'rt' }],
  ['pro', 'trades', { line: 'rt' }],
  ['pro', 'bars', { line: 'rt' }],
  ['pro', 'dailyBars', { line: 'rt' }],
  ['pro', 'depth', { refused: 'tier_required', requiredTier: 'pro_plus' }],
  ['pro_plus', 'quotes', { line: 'rt' }],
  ['pro_plus', 'bars', { line: 'rt' }],
  ['pro_plus', 'depth', { line: 'rt' }],
];

describe('grantFor', () => {
  it.each(table)('%s asking for %s', (tier, channel, expected) => {
    expect(grantFor(tier, channel)).toEqual(expected);
  });

  it('never grants the real-time line to Free, whatever the channel', () => {
    for (const channel of ['quotes', 'trades', 'bars', 'updatedBars', 'dailyBars', 'statuses', 'lulds', 'depth'] as const) {
      expect(grantFor('free', channel)).not.toEqual({ line: 'rt' });
    }
  });
});
