// Lua: the check every fenced feed script starts with (see docs/feed-redis.md).
/**
 * Returns `fenced` from the script unless `{md}:lease` (KEYS[1]) belongs to the caller's epoch (ARGV[1]): the lease
 * value is `<epoch>:<owner>`, so a former leader woken from a pause writes nothing.
 */
export const epochFenceLua = (fenced: string): string => `local lease = redis.call('GET', KEYS[1])
local prefix = ARGV[1] .. ':'
if (not lease) or string.sub(lease, 1, #prefix) ~= prefix then
  return ${fenced}
end`;
