// Lua: take the feed leader lease if free, renew it if ours (see docs/feed-redis.md).
export const leaseAcquireLua = `
-- lease-acquire: take the leader lease if it is free, renew it if this owner holds it.
-- KEYS[1] {md}:lease  (value "<epoch>:<owner>", PX ttl)
-- KEYS[2] {md}:epoch  (fencing counter; INCR on every takeover, never reset)
-- ARGV[1] owner id (any string; unique per process)
-- ARGV[2] ttl in ms
-- Returns {1, epoch, owner} when this owner is (now) the leader, {0, epoch, holder} otherwise.
local current = redis.call('GET', KEYS[1])
if not current then
  local epoch = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], epoch .. ':' .. ARGV[1], 'PX', ARGV[2])
  return {1, epoch, ARGV[1]}
end
local sep = string.find(current, ':', 1, true)
local epoch = tonumber(string.sub(current, 1, sep - 1))
local holder = string.sub(current, sep + 1)
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, epoch, holder}
end
return {0, epoch, holder}
`;
