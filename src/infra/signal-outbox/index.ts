// The signal-turn outbox: events of signal turns survive a crash between COMMIT and their append.
export * from './outbox.js';
