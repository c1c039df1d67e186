// The live-eligibility rule: kill switch first, then the tier, then the gate or an operator override.
import { describe, expect, it } from 'vitest';
import { live, mbt } from '../../../src/domain/index.js';

const passing = mbt.evaluateGate({
  requiredCycles: 2,
  cycleStartedAt: '2026-01-01T00:00:00Z',
  cycles: [
    { tradingDay: '2026-01-02', pnl: '10', hadActivity: true, settledAt: '2026-01-02T21:00:00Z' },
    { tradingDay: '2026-01-05', pnl: '5', hadActivity: true, settledAt: '2026-01-05T21:00:00Z' },
  ],
});
const failing = mbt.evaluateGate({ requiredCycles: 2, cycleStartedAt: '2026-01-01T00:00:00Z', cycles: [] });
const base: live.LiveStanding = { tier: 'pro', killSwitch: { disabled: false }, gate: passing, override: null };

describe('liveEligibility', () => {
  it('Pro and Pro+ with a passed gate are eligible; Free never is', () => {
    expect(live.liveEligibility(base)).toEqual({ eligible: true, via: 'gate' });
    expect(live.liveEligibility({ ...base, tier: 'pro_plus' })).toEqual({ eligible: true, via: 'gate' });
    expect(live.liveEligibility({ ...base, tier: 'free' })).toMatchObject({ eligible: false, code: 'tier_not_eligible' });
    expect(live.liveEligibility({ ...base, tier: 'free', override: { grantedBy: 'op', reason: 'r' } })).toMatchObject({ eligible: false, code: 'tier_not_eligible' });
  });

  it('a gate not passed says what is missing; an override replaces the gate', () => {
    const r = live.liveEligibility({ ...base, gate: failing });
    expect(r).toMatchObject({ eligible: false, code: 'gate_not_passed' });
    if (r.eligible) throw new Error('unreachable');
    expect(r.message).toMatch(/2 more settled cycles needed/);
    expect(r.missing?.map((m) => m.rule)).toContain('cycles');
    expect(live.liveEligibility({ ...base, gate: null })).toMatchObject({ eligible: false, code: 'gate_not_passed' });
    expect(live.liveEligibility({ ...base, gate: failing, override: { grantedBy: 'op', reason: 'r' } })).toEqual({ eligible: true, via: 'override' });
  });

  it('the kill switch wins over everything and names its reason', () => {
    const r = live.liveEligibility({ ...base, override: { grantedBy: 'op', reason: 'r' }, killSwitch: { disabled: true, source: 'runtime', reason: 'incident 42' } });
    expect(r).toMatchObject({ eligible: false, code: 'live_disabled' });
    if (r.eligible) throw new Error('unreachable');
    expect(r.message).toContain('incident 42');
    expect(r.message).toMatch(/paper trading is unaffected/);
  });
});
