// docs/sim.md documents every simulator setting the simulator accepts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simEnvSchema } from '../../../src/sim/config.js';

const doc = readFileSync(resolve(import.meta.dirname, '../../../docs/sim.md'), 'utf8');

describe('docs/sim.md settings table', () => {
  it.each(Object.keys(simEnvSchema.shape))('documents %s', (name) => {
    expect(doc).toMatch(new RegExp(`\\| \`${name}\` \\|`));
  });
});
