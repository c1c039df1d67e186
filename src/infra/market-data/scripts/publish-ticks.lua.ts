// Lua: the feed's hot path — one fenced call publishes a whole batch of ticks (see docs/feed-redis.md).
import { epochFenceLua } from './epoch-fence.lua.js';

export const publishTicksLua = `
-- publish-ticks: fenced, atomic publish of one batch of ticks, plus the delay-line entries handed over by the
-- conflator. If the lease does not hold exactly ARGV[1] nothing at all is written or published.
-- KEYS[1]     {md}:lease   (checked: must start with "<epoch>:")
-- KEYS[2]     {md}:seq     (hash <kind>:<symbol> -> last seq)
-- KEYS[3]     {md}:lkg     (hash <kind>:<symbol> -> last frame)
-- KEYS[4]     {md}:lkg:dl  (hash <kind>:<symbol> -> last delayed frame; written here only in fallback mode)
-- KEYS[5]     {md}:delay   (stream of delayed frames waiting out the delay)
-- KEYS[5+i]   {md}:rw:<kind>:<symbol> of tick i (replay stream), i = 1..n
-- ARGV[1]     epoch (fencing token)
-- ARGV[2]     mode: "rt" (real-time upstream) or "fb" (entitlement fallback: upstream already delayed)
-- ARGV[3]     replay window in ms (MINID trim threshold = server time - window; also the key's PEXPIRE)
-- ARGV[4]     trim precision: "~" (approximate, whole stream nodes) or "=" (exact)
-- ARGV[5]     n, number of ticks
-- ARGV[6]     m, number of delay entries
-- ARGV[7..]   n x (kind, symbol, body), body = frame JSON without its closing brace
-- then        m x (kind, symbol, seq, body)  delay entries (ignored in fallback mode)
-- Returns {0} when fenced, else {1, seq_1, ..., seq_n}.
${epochFenceLua('{0}')}
local fallback = ARGV[2] == 'fb'
local window = tonumber(ARGV[3])
local trim = ARGV[4]
local n = tonumber(ARGV[5])
local m = tonumber(ARGV[6])
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local minid = string.format('%d', nowMs - window)

-- Current seqs of every (kind, symbol) in the batch, read once (same result as one HINCRBY per tick).
local seqOf = {}
local fields = {}
for i = 1, n do
  local b = 6 + (i - 1) * 3
  local f = ARGV[b + 1] .. ':' .. ARGV[b + 2]
  if seqOf[f] == nil then
    seqOf[f] = 0
    fields[#fields + 1] = f
  end
end
if #fields > 0 then
  local current = redis.call('HMGET', KEYS[2], unpack(fields))
  for j = 1, #fields do
    seqOf[fields[j]] = tonumber(current[j]) or 0
  end
end

local suffix = fallback and ',"src":"delayed","seq":' or ',"src":"rt","seq":'
local lastFrame = {}
local streams = {}
local out = {1}
for i = 1, n do
  local b = 6 + (i - 1) * 3
  local f = ARGV[b + 1] .. ':' .. ARGV[b + 2]
  local seq = seqOf[f] + 1
  seqOf[f] = seq
  local frame = ARGV[b + 3] .. suffix .. seq .. '}'
  redis.call('PUBLISH', 'md:rt:' .. f, frame)
  if fallback then
    redis.call('PUBLISH', 'md:dl:' .. f, frame)
  end
  redis.call('XADD', KEYS[5 + i], 'MINID', trim, minid, '*', 's', seq, 'f', frame)
  lastFrame[f] = frame
  streams[KEYS[5 + i]] = true
  out[i + 1] = seq
end

if #fields > 0 then
  local seqArgs = {}
  local lkgArgs = {}
  for j = 1, #fields do
    local f = fields[j]
    seqArgs[#seqArgs + 1] = f
    seqArgs[#seqArgs + 1] = seqOf[f]
    lkgArgs[#lkgArgs + 1] = f
    lkgArgs[#lkgArgs + 1] = lastFrame[f]
  end
  redis.call('HSET', KEYS[2], unpack(seqArgs))
  redis.call('HSET', KEYS[3], unpack(lkgArgs))
  if fallback then
    redis.call('HSET', KEYS[4], unpack(lkgArgs))
  end
  -- A replay stream that gets no tick for a whole window holds nothing worth replaying.
  for key in pairs(streams) do
    redis.call('PEXPIRE', key, window)
  end
end

if fallback then
  -- The upstream is already delayed: entries still waiting in the delay line are older than what the delay
  -- line now receives directly, and releasing them later would send the line backwards.
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('UNLINK', KEYS[5])
  end
else
  local d = 6 + n * 3
  for j = 1, m do
    local b = d + (j - 1) * 4
    local frame = ARGV[b + 4] .. ',"src":"delayed","seq":' .. ARGV[b + 3] .. '}'
    redis.call('XADD', KEYS[5], '*', 'k', ARGV[b + 1], 'S', ARGV[b + 2], 's', ARGV[b + 3], 'f', frame)
  end
end
return out
`;
