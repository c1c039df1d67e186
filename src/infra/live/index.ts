// Public surface of the live-broker infrastructure.
export * from './connections.js';
export * from './key-rewrap.js';
