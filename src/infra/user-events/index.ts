// The private per-user event log: appending (Lua: seq + XADD + PUBLISH, atomically, idempotent per command while it is recent).
export { USER_EVENT_DEDUPE_WINDOW, UserEventLog, userEventDedupeKey, type AppendResult, type UserEventDraft, type UserEventLogOptions } from './user-event-log.js';
export { userEventAppendLua } from './append.lua.js';
