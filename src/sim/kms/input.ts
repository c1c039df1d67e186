// Reading a JSON 1.1 request body the way KMS does: wrong JSON types are SerializationException,
// missing or out-of-range members are ValidationException.
import { KmsError, validation } from './errors.js';
import type { EncryptionContext } from './ciphertext.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

function serialization(member: string, expected: string): KmsError {
  return new KmsError('SerializationException', `Unexpected value for '${member}': expected ${expected}.`);
}

export class Input {
  constructor(private readonly body: Record<string, unknown>) {}

  static parse(raw: Buffer): Input {
    const text = raw.toString('utf8');
    if (text.trim() === '') return new Input({});
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new KmsError('SerializationException', 'Request body is not valid JSON.');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new KmsError('SerializationException', 'Request body must be a JSON object.');
    }
    return new Input(value as Record<string, unknown>);
  }

  private raw(name: string): unknown {
    const v = this.body[name];
    return v === null ? undefined : v;
  }

  optString(name: string, opts: { min?: number; max?: number } = {}): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw serialization(name, 'a string');
    const min = opts.min ?? 1;
    if (v.length < min) throw validation(lowerFirst(name), `Member must have length greater than or equal to ${min}`, `'${v}'`);
    if (opts.max !== undefined && v.length > opts.max) {
      throw validation(lowerFirst(name), `Member must have length less than or equal to ${opts.max}`, '(too long)');
    }
    return v;
  }

  string(name: string, opts: { min?: number; max?: number } = {}): string {
    const v = this.optString(name, opts);
    if (v === undefined) throw validation(lowerFirst(name), 'Member must not be null');
    return v;
  }

  optEnum<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.optString(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      throw validation(lowerFirst(name), `Member must satisfy enum value set: [${values.join(', ')}]`, `'${v}'`);
    }
    return v as T;
  }

  enum<T extends string>(name: string, values: readonly T[]): T {
    const v = this.optEnum(name, values);
    if (v === undefined) throw validation(lowerFirst(name), 'Member must not be null');
    return v;
  }

  optInt(name: string, min: number, max: number): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw serialization(name, 'an integer');
    if (v < min) throw validation(lowerFirst(name), `Member must have value greater than or equal to ${min}`, String(v));
    if (v > max) throw validation(lowerFirst(name), `Member must have value less than or equal to ${max}`, String(v));
    return v;
  }

  optBool(name: string): boolean | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw serialization(name, 'a boolean');
    return v;
  }

  optBlob(name: string, opts: { min?: number; max?: number } = {}): Buffer | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !BASE64.test(v)) throw serialization(name, 'a base64-encoded blob');
    const b = Buffer.from(v, 'base64');
    const min = opts.min ?? 1;
    if (b.length < min) throw validation(lowerFirst(name), `Member must have length greater than or equal to ${min}`, 'java.nio.HeapByteBuffer');
    if (opts.max !== undefined && b.length > opts.max) {
      throw validation(lowerFirst(name), `Member must have length less than or equal to ${opts.max}`, 'java.nio.HeapByteBuffer');
    }
    return b;
  }

  blob(name: string, opts: { min?: number; max?: number } = {}): Buffer {
    const v = this.optBlob(name, opts);
    if (v === undefined) throw validation(lowerFirst(name), 'Member must not be null');
    return v;
  }

  optContext(name: string): EncryptionContext | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw serialization(name, 'a map of strings');
    for (const value of Object.values(v as Record<string, unknown>)) {
      if (typeof value !== 'string') throw serialization(name, 'a map of strings');
    }
    return v as EncryptionContext;
  }

  optTags(name: string): { TagKey: string; TagValue: string }[] {
    const v = this.raw(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw serialization(name, 'a list of tags');
    return v.map((t: unknown) => {
      const tag = t as { TagKey?: unknown; TagValue?: unknown } | null;
      if (!tag || typeof tag.TagKey !== 'string' || typeof tag.TagValue !== 'string') throw serialization(name, 'a list of {TagKey, TagValue}');
      return { TagKey: tag.TagKey, TagValue: tag.TagValue };
    });
  }
}
