// The simulated account's keys and aliases, in memory and (optionally) in <dataDir>/kms-keys.json, written atomically.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type KeyUsage = 'ENCRYPT_DECRYPT' | 'GENERATE_VERIFY_MAC';
export type KeySpec = 'SYMMETRIC_DEFAULT' | 'HMAC_224' | 'HMAC_256' | 'HMAC_384' | 'HMAC_512';

export interface KeyVersion {
  /** 1 for the original material, +1 per rotation. */
  version: number;
  material: Buffer;
  createdAt: number;
  rotationType?: 'ON_DEMAND' | 'AUTOMATIC';
}

export interface StoredKey {
  keyId: string;
  createdAt: number;
  description: string;
  keyUsage: KeyUsage;
  keySpec: KeySpec;
  enabled: boolean;
  rotationEnabled: boolean;
  rotationPeriodDays: number;
  tags: { TagKey: string; TagValue: string }[];
  /** Oldest first; the last one encrypts. */
  versions: KeyVersion[];
}

export interface StoredAlias {
  /** `alias/…` */
  name: string;
  targetKeyId: string;
  createdAt: number;
  updatedAt: number;
}

/** Bytes of key material per key spec (HMAC keys use the digest's block-size-independent output length). */
export const MATERIAL_BYTES: Record<KeySpec, number> = {
  SYMMETRIC_DEFAULT: 32,
  HMAC_224: 28,
  HMAC_256: 32,
  HMAC_384: 48,
  HMAC_512: 64,
};

interface FileV1 {
  format: 'raxx-sim-kms';
  version: 1;
  keys: (Omit<StoredKey, 'versions'> & { versions: (Omit<KeyVersion, 'material'> & { material: string })[] })[];
  aliases: StoredAlias[];
}

export const KEYS_FILE = 'kms-keys.json';

export class KeyStore {
  readonly keys = new Map<string, StoredKey>();
  readonly aliases = new Map<string, StoredAlias>();
  private readonly file: string | undefined;
  private writeChain: Promise<void> = Promise.resolve();

  constructor(dataDir: string | undefined) {
    this.file = dataDir === undefined ? undefined : join(dataDir, KEYS_FILE);
    if (this.file !== undefined) this.load(this.file);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    // A corrupt file stops the start: silently starting empty would orphan every ciphertext.
    const data = JSON.parse(text) as FileV1;
    if (data.format !== 'raxx-sim-kms' || data.version !== 1) throw new Error(`${file}: not a simulated KMS key file (format/version)`);
    for (const k of data.keys) {
      this.keys.set(k.keyId, { ...k, versions: k.versions.map((v) => ({ ...v, material: Buffer.from(v.material, 'base64') })) });
    }
    for (const a of data.aliases) this.aliases.set(a.name, a);
  }

  createKey(init: { description: string; keyUsage: KeyUsage; keySpec: KeySpec; tags: StoredKey['tags'] }, now: number): StoredKey {
    const key: StoredKey = {
      keyId: randomUUID(),
      createdAt: now,
      description: init.description,
      keyUsage: init.keyUsage,
      keySpec: init.keySpec,
      enabled: true,
      rotationEnabled: false,
      rotationPeriodDays: 365,
      tags: init.tags,
      versions: [{ version: 1, material: randomBytes(MATERIAL_BYTES[init.keySpec]), createdAt: now }],
    };
    this.keys.set(key.keyId, key);
    return key;
  }

  rotate(key: StoredKey, now: number, rotationType: 'ON_DEMAND' | 'AUTOMATIC'): KeyVersion {
    const last = key.versions[key.versions.length - 1];
    const version: KeyVersion = {
      version: (last?.version ?? 0) + 1,
      material: randomBytes(MATERIAL_BYTES[key.keySpec]),
      createdAt: now,
      rotationType,
    };
    key.versions.push(version);
    return version;
  }

  private snapshot(): string {
    const data: FileV1 = {
      format: 'raxx-sim-kms',
      version: 1,
      keys: [...this.keys.values()].map((k) => ({ ...k, versions: k.versions.map((v) => ({ ...v, material: v.material.toString('base64') })) })),
      aliases: [...this.aliases.values()],
    };
    return `${JSON.stringify(data, null, 2)}\n`;
  }

  private tmpName(file: string): string {
    return `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  }

  /** Synchronous save, for start-up (initial aliases) before any request is served. */
  saveSync(): void {
    if (this.file === undefined) return;
    const tmp = this.tmpName(this.file);
    mkdirSync(join(this.file, '..'), { recursive: true });
    writeFileSync(tmp, this.snapshot(), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Saves the state as of now (tmp file + rename); saves run one after another so the last one wins. */
  save(): Promise<void> {
    if (this.file === undefined) return Promise.resolve();
    const file = this.file;
    const text = this.snapshot();
    const run = async () => {
      const tmp = this.tmpName(file);
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(tmp, text, { mode: 0o600, flush: true });
      await rename(tmp, file);
    };
    const next = this.writeChain.then(run, run);
    this.writeChain = next.catch(() => {});
    return next;
  }

  /** Resolves when every save started so far has finished. */
  flushed(): Promise<void> {
    return this.writeChain;
  }
}
