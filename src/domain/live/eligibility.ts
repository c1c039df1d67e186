// Who may trade live: a pure decision over facts the caller reads (tier, gate, override, kill switch, connection).
// Checked when a user connects, when they draft a live order and again in the actor when it is submitted.
import type { GateStatus } from '../mbt/gate.js';

export type LiveTier = 'free' | 'pro' | 'pro_plus';

export interface LiveStanding {
  tier: LiveTier;
  /** The kill switch: the environment flag or the runtime toggle (read per command, never cached at boot). */
  killSwitch: { disabled: boolean; source?: 'env' | 'runtime'; reason?: string | null };
  /** The paper-profitable gate over the user's settled cycles; null when the user has no paper account. */
  gate: GateStatus | null;
  /** An operator's audited override of the gate. */
  override: { grantedBy: string; reason: string } | null;
}

export type EligibilityCode = 'live_disabled' | 'tier_not_eligible' | 'gate_not_passed';

export type Eligibility =
  | { eligible: true; via: 'gate' | 'override' }
  | { eligible: false; code: EligibilityCode; message: string; missing?: GateStatus['missing'] };

/** In order: the kill switch, then the tier (Pro and Pro+ only), then the gate or an override. */
export function liveEligibility(s: LiveStanding): Eligibility {
  if (s.killSwitch.disabled) {
    const why = s.killSwitch.reason ? `: ${s.killSwitch.reason}` : '';
    return { eligible: false, code: 'live_disabled', message: `live trading is switched off by the operators${why}; paper trading is unaffected` };
  }
  if (s.tier !== 'pro' && s.tier !== 'pro_plus') {
    return { eligible: false, code: 'tier_not_eligible', message: 'live trading needs the Pro or Pro+ plan' };
  }
  if (s.override) return { eligible: true, via: 'override' };
  if (!s.gate) return { eligible: false, code: 'gate_not_passed', message: 'open a paper account and trade it profitably first' };
  if (s.gate.passes) return { eligible: true, via: 'gate' };
  const needs = s.gate.missing.map((m) => m.message).join('; ');
  return { eligible: false, code: 'gate_not_passed', message: `the paper-profitable gate is not passed yet: ${needs}`, missing: s.gate.missing };
}
