// Pure domain code: no I/O, no wall clock except through Clock.
export { offsetClock, type Clock } from './clock.js';
export * from './tiers/index.js';
export * as mbt from './mbt/index.js';
export * as live from './live/index.js';
