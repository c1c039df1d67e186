// Seeded, keyed randomness: the same (seed, account, order, quote seq) always draws the same number.

/** cyrb53: a small, well-mixed 53-bit string hash (public domain), pure JS so the domain stays dependency-free. */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Short, stable fingerprint of a canonical payload (16 hex digits). */
export function fingerprintHash(text: string): string {
  return hash53(text).toString(16).padStart(14, '0') + hash53(text, 1).toString(16).slice(-2).padStart(2, '0');
}

/** A uniform draw in [0, 1) from a key. */
export function draw(seed: number, key: string): number {
  return hash53(key, seed) / 2 ** 53;
}
