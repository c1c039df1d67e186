// Rate limiting shared across replicas (Redis sliding-window log): the generic limiter and the per-tier HTTP budget.
export {
  RateLimitInputError,
  createRedisRateLimiter,
  createRedisRequestLimiter,
  rateLimitKey,
  type Budget,
  type MultiRateDecision,
  type RateDecision,
  type RateLimiter,
  type RedisRequestLimiterOptions,
  type TierRequestLimiter,
} from './limiter.js';
export { slidingWindowLua } from './sliding-window.lua.js';
