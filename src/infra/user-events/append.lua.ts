// Appends frames to one user's private event log atomically: per-user seq, bounded stream, pub/sub, optional dedupe.
/**
 * KEYS[1] `{u:<id>}:events`, KEYS[2] `{u:<id>}:seq`, KEYS[3] dedupe key `{u:<id>}:cmd:<commandId>` (same slot).
 * ARGV[1] MAXLEN (approximate), ARGV[2] channel `user-events:<id>`, ARGV[3] dedupe TTL in ms (0 = no dedupe),
 * ARGV[4..] frame tails: JSON objects without `T` and `seq`; the script writes `{"T":"event","seq":N,…}`.
 * Returns {1, firstSeq} when appended, {0, firstSeq of the earlier append} when the dedupe key already existed.
 */
export const userEventAppendLua = `
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  local prev = redis.call('GET', KEYS[3])
  if prev then return {0, tonumber(prev)} end
end
local first = 0
for i = 4, #ARGV do
  local seq = redis.call('INCR', KEYS[2])
  if first == 0 then first = seq end
  local frame = '{"T":"event","seq":' .. string.format('%d', seq) .. ',' .. string.sub(ARGV[i], 2)
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', seq, 'f', frame)
  redis.call('PUBLISH', ARGV[2], frame)
end
if ttl > 0 then redis.call('SET', KEYS[3], first, 'PX', ttl) end
return {1, first}
`;
