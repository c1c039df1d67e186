// Appends frames to one user's private event log atomically: per-user seq, bounded stream, pub/sub, optional dedupe.
/**
 * KEYS[1] `{u:<id>}:events`, KEYS[2] `{u:<id>}:seq`, KEYS[3] `{u:<id>}:appended` (same slot): a sorted set of the
 * user's most recent dedupe ids, scored by the first seq of their append.
 * ARGV[1] MAXLEN (approximate), ARGV[2] channel `user-events:<id>`, ARGV[3] dedupe TTL in ms (0 = no dedupe),
 * ARGV[4] dedupe id, ARGV[5] how many recent dedupe ids the set keeps,
 * ARGV[6..] frame tails: JSON objects without `T` and `seq`; the script writes `{"T":"event","seq":N,…}`.
 * Returns {1, firstSeq} when appended, {0, firstSeq of the earlier append} when the id is among the recent ones.
 */
export const userEventAppendLua = `
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  local prev = redis.call('ZSCORE', KEYS[3], ARGV[4])
  if prev then return {0, tonumber(prev)} end
end
local first = 0
for i = 6, #ARGV do
  local seq = redis.call('INCR', KEYS[2])
  if first == 0 then first = seq end
  local frame = '{"T":"event","seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[i], 2)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', seq, 'f', frame)
  redis.call('PUBLISH', ARGV[2], frame)
end
if ttl > 0 then
  -- Trimmed before the add, so the set never holds more than the window: a sorted set that once grows past
  -- zset-max-listpack-entries (128) becomes a skiplist (~20 KB at 128 ids instead of ~6 KB) and never converts back.
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[5]))
  redis.call('ZADD', KEYS[3], first, ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {1, first}
`;
