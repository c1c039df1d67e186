// Lua: release delay-line entries that have waited out the delay (see docs/feed-redis.md).
import { epochFenceLua } from './epoch-fence.lua.js';

export const releaseDelayLua = `
-- release-delay: fenced; publishes every {md}:delay entry with ID <= cutoff on md:dl:<kind>:<symbol>, writes it
-- to the delayed last-known-good hash and deletes it from the stream.
-- KEYS[1] {md}:lease   (checked: must start with "<epoch>:")
-- KEYS[2] {md}:delay   (stream; fields k (kind), S (symbol), s (seq), f (delayed frame))
-- KEYS[3] {md}:lkg:dl  (hash <kind>:<symbol> -> last delayed frame)
-- ARGV[1] epoch (fencing token)
-- ARGV[2] cutoff in ms (caller's now - delay)
-- ARGV[3] max entries to release in this call
-- ARGV[4] minimum age in ms by the Redis server's clock (the delay again): the effective cutoff is
--         min(ARGV[2], server time - ARGV[4]), so a caller whose clock runs ahead cannot release early
-- Returns {0} when fenced, else {1, released, oldest remaining entry's age in ms or -1 if the stream is empty}.
${epochFenceLua('{0}')}
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cutoff = math.min(tonumber(ARGV[2]), nowMs - tonumber(ARGV[4]))
local released = 0
if cutoff >= 0 then
  local entries = redis.call('XRANGE', KEYS[2], '-', string.format('%d', cutoff), 'COUNT', tonumber(ARGV[3]))
  local lkgArgs = {}
  local seen = {}
  local ids = {}
  for i = 1, #entries do
    local id = entries[i][1]
    local v = entries[i][2]
    local k, S, f
    for j = 1, #v, 2 do
      if v[j] == 'k' then k = v[j + 1] elseif v[j] == 'S' then S = v[j + 1] elseif v[j] == 'f' then f = v[j + 1] end
    end
    local field = k .. ':' .. S
    redis.call('PUBLISH', 'md:dl:' .. field, f)
    if seen[field] then
      lkgArgs[seen[field]] = f
    else
      lkgArgs[#lkgArgs + 1] = field
      lkgArgs[#lkgArgs + 1] = f
      seen[field] = #lkgArgs
    end
    ids[#ids + 1] = id
    if #ids == 500 then
      redis.call('XDEL', KEYS[2], unpack(ids))
      ids = {}
    end
  end
  if #ids > 0 then
    redis.call('XDEL', KEYS[2], unpack(ids))
  end
  if #lkgArgs > 0 then
    redis.call('HSET', KEYS[3], unpack(lkgArgs))
  end
  released = #entries
end
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local age = -1
if #oldest > 0 then
  local id = oldest[1][1]
  local ms = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
  age = nowMs - ms
end
return {1, released, age}
`;
