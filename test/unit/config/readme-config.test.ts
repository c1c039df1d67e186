// The README documents every configuration variable the config module accepts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchema, secretNames } from '../../../src/config/index.js';

const readme = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');

describe('README configuration table', () => {
  it.each(Object.keys(envSchema.shape))('documents %s', (name) => {
    expect(readme).toMatch(new RegExp(`\\| \`${name}\` \\|`));
  });
  it.each([...secretNames])('documents secret %s', (name) => {
    expect(readme).toContain(`\`${name}`);
  });
});
