// The live handoff's pure rules.
export * from './eligibility.js';
