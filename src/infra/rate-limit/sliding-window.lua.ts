// Lua: one sliding-window-log rate-limit check, atomic on the Redis server (shared by every replica).
export const slidingWindowLua = `
-- sliding-window: count one request against a (scope, subject) budget, or refuse it.
-- KEYS[1] rl:{<scope>:<subject>}  sorted set; member = request nonce, score = request time in microseconds
-- ARGV[1] limit       requests allowed per window (integer >= 0)
-- ARGV[2] window      window length in milliseconds (integer > 0)
-- ARGV[3] nonce       unique id of this request (the set member)
-- Time is the Redis server's (TIME), so replicas with skewed clocks share one window.
-- A request at time t counts during [t, t + window). Refused requests are not recorded.
-- Returns {allowed (1|0), remaining, retryAfterMs (0 when allowed), count in window after this call}.
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_us)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
  return {1, limit - count - 1, 0, count + 1}
end
local retry_ms = tonumber(ARGV[2])
if count > 0 then
  -- The slot frees when the entry that makes the window full ages out: the (count - limit + 1)-th oldest.
  local entry = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  retry_ms = math.ceil((tonumber(entry[2]) + window_us - now) / 1000)
  if retry_ms < 1 then retry_ms = 1 end
end
return {0, 0, retry_ms, count}
`;
