// Lua: sliding-window-log rate-limit checks of one subject's budgets, atomic on the Redis server (shared by every replica).
export const slidingWindowLua = `
-- sliding-window: count one request against one or more budgets of one subject, in order, or refuse it.
-- KEYS[i]        rl:{<subject>}:<scope>  sorted set; member = request nonce, score = request time in microseconds
--                (one hash tag: a subject's budgets share a Redis Cluster slot, so one call checks them all)
-- ARGV[1]        nonce: unique id of this request (the set member)
-- ARGV[2i], ARGV[2i+1]  limit (integer >= 0) and window in milliseconds (integer > 0) of KEYS[i]
-- Time is the Redis server's (TIME), so replicas with skewed clocks share one window.
-- A request at time t counts during [t, t + window). The budgets are checked one after another, as separate calls
-- would be: each one that allows the request records it, and the first that refuses stops the rest (it and the ones
-- after it record nothing).
-- Returns {allowed (1|0), index of the refusing budget (0 when allowed), retryAfterMs (0 when allowed),
--          remaining of budget 1, remaining of budget 2, ...} (a refusing budget's remaining is 0; later ones -1).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {1, 0, 0}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window_ms = tonumber(ARGV[2 * i + 1])
  local window_us = window_ms * 1000
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window_us)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local retry_ms = window_ms
    if count > 0 then
      -- The slot frees when the entry that makes the window full ages out: the (count - limit + 1)-th oldest.
      local entry = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
      retry_ms = math.ceil((tonumber(entry[2]) + window_us - now) / 1000)
      if retry_ms < 1 then retry_ms = 1 end
    end
    out[1] = 0
    out[2] = i
    out[3] = retry_ms
    out[3 + i] = 0
    for j = i + 1, #KEYS do out[3 + j] = -1 end
    return out
  end
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], window_ms + 1000)
  out[3 + i] = limit - count - 1
end
return out
`;
