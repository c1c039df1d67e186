// Lua: acquire/renew/release one partition lease, and a read that is fenced by the lease (see docs/runtime.md).

/** Acquire the partition lease if free, renew it if ours. */
export const partitionLeaseAcquireLua = `
-- partition-lease-acquire
-- KEYS[1] lease:{pN}  (value "<epoch>:<owner>", PX ttl)
-- KEYS[2] epoch:{pN}  (fencing counter; INCR on every takeover, never reset)
-- ARGV[1] owner id (unique per process)
-- ARGV[2] ttl in ms
-- ARGV[3] epoch floor: a new epoch is always > this (the epoch PostgreSQL already knows), 0 if unknown
-- Returns {1, epoch, owner} when this owner holds the lease after the call, {0, epoch, holder} otherwise.
local current = redis.call('GET', KEYS[1])
if not current then
  local epoch = redis.call('INCR', KEYS[2])
  local floor = tonumber(ARGV[3])
  if epoch <= floor then
    epoch = floor + 1
    redis.call('SET', KEYS[2], epoch)
  end
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

/** Delete the lease only if it still holds exactly this epoch and owner. */
export const partitionLeaseReleaseLua = `
-- partition-lease-release
-- KEYS[1] lease:{pN}
-- ARGV[1] "<epoch>:<owner>" as written by acquire
-- Returns 1 when deleted, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/**
 * XREADGROUP that only runs while the caller holds the lease, atomically: a consumer whose lease expired
 * (paused process) can never take new entries into its pending list behind the new owner's back.
 */
export const fencedReadLua = `
-- partition-fenced-read
-- KEYS[1] lease:{pN}
-- KEYS[2] cmd:{pN}
-- ARGV[1] "<epoch>:<owner>"  ARGV[2] group  ARGV[3] consumer  ARGV[4] count
-- Returns -1 when the lease is not (any more) exactly ARGV[1]; else the XREADGROUP reply (false when empty).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
return redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', KEYS[2], '>')
`;
