// Lua: give the feed leader lease up, only if it is still exactly ours.
export const leaseReleaseLua = `
-- lease-release: delete the lease only if it still holds exactly "<epoch>:<owner>".
-- KEYS[1] {md}:lease
-- ARGV[1] owner id
-- ARGV[2] epoch the owner was granted
-- Returns 1 if released, 0 if the lease had expired or moved on.
if redis.call('GET', KEYS[1]) == ARGV[2] .. ':' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
