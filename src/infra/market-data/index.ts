// Feed's Redis side (fenced lease, tick publish, delay line, demand leases), bar-close jobs and the rule registry.
export { LeaderLease, type LeaseState } from './lease.js';
export {
  DEFAULT_REPLAY_WINDOW_MS,
  MAX_TICKS_PER_CALL,
  TickPublisher,
  publishTicks,
  type PublishMode,
  type PublishOptions,
  type PublishResult,
  type TickInput,
  type TickPublisherOptions,
} from './tick-publisher.js';
export { DelayConflator, type DelayConflatorOptions, type DelayEntry } from './delay-conflator.js';
export {
  DEFAULT_DELAY_MS,
  DelayConsumer,
  MAX_RELEASE_PER_CALL,
  type DelayConsumerOptions,
  type ReleaseResult,
} from './delay-consumer.js';
export {
  DemandLease,
  DemandTracker,
  readDemandUnion,
  subscribeDemandChanges,
  type DemandLeaseOptions,
  type DemandTrackerOptions,
} from './demand.js';
export {
  BAR_CLOSE_DEDUPE_AGE_S,
  BAR_CLOSE_JOB_NAME,
  BAR_CLOSE_QUEUE,
  BarCloseJobs,
  barCloseJobId,
  barTimeMs,
  type BarCloseJobData,
  type BarRule,
  type ClosedBar,
} from './bar-close-jobs.js';
export { disableRule, isValidRuleId, listEnabledRules, upsertRule, type MarketDataRule, type UpsertRuleInput } from './rules.js';
export { LuaScript, type LuaArg } from './lua.js';
export { setHubStatus } from './hub-status.js';
