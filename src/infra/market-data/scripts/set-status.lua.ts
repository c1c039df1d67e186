// Lua: the hub status, written and announced only by the current feed leader (see docs/feed-redis.md).
import { epochFenceLua } from './epoch-fence.lua.js';

export const setStatusLua = `
-- set-status: fenced; a former leader woken from a pause must not overwrite the banner every client shows.
-- KEYS[1] {md}:lease   (checked: must start with "<epoch>:")
-- KEYS[2] {md}:status
-- ARGV[1] epoch (fencing token)
-- ARGV[2] status JSON (HubStatus)
-- ARGV[3] channel to announce it on (md:status)
-- Returns 0 when fenced, else 1.
${epochFenceLua('0')}
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
`;
