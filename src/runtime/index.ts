// Public surface of the partitioned actor runtime (knows no domain).
export { PartitionRuntime, type ActorHost, type RuntimeLogger, type RuntimeOptions, type RuntimeStats, type Signal, type SignalStats, type TurnContext, type TurnTiming } from './runtime.js';
export {
  appendCommand,
  CONSUMER_GROUP,
  ENVELOPE_FIELD,
  envelopeSchema,
  fnv1a,
  partitionOf,
  runtimeKeys,
  type AppendOptions,
  type Envelope,
} from './envelope.js';
export { assignPartitions } from './assignment.js';
export {
  claimPartitionEpoch,
  commitFencedBatch,
  commitFencedGroup,
  currentPartitionEpoch,
  DeferredWrites,
  FencedOutError,
  turnTag,
  withFencedGroup,
  withFencedTransaction,
  type CommandDecision,
  type Fence,
  type FencedBatch,
  type Prefetch,
  type PrefetchTurn,
  type TurnPhases,
  type StoredDecision,
} from './fencing.js';
