// The KMS operations the simulator implements, with real cryptography (AES-256-GCM envelopes, HMAC).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KmsError, validation } from './errors.js';
import { Input } from './input.js';
import { open, parseHeader, seal, type EncryptionContext } from './ciphertext.js';
import type { KeySpec, KeyStore, KeyUsage, StoredAlias, StoredKey } from './store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;
const KEY_USAGES = ['ENCRYPT_DECRYPT', 'GENERATE_VERIFY_MAC', 'SIGN_VERIFY', 'KEY_AGREEMENT'] as const;
const KEY_SPECS = [
  'SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512',
  'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1',
  'SM2', 'ML_DSA_44', 'ML_DSA_65', 'ML_DSA_87', 'ECC_NIST_EDWARDS25519',
] as const;
const SUPPORTED_SPECS: readonly KeySpec[] = ['SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'];
const MAC_ALGORITHMS = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;
type MacAlgorithm = (typeof MAC_ALGORITHMS)[number];
const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'] as const;
const MAX_PLAINTEXT = 4096;
const MAX_CIPHERTEXT = 6144;
const KEY_ID_MAX = 2048;

const macAlgorithmOf = (spec: KeySpec): MacAlgorithm | undefined =>
  spec === 'SYMMETRIC_DEFAULT' ? undefined : (`HMAC_SHA_${spec.slice(5)}` as MacAlgorithm);
const epochSeconds = (ms: number) => ms / 1000;

export interface KmsServiceOptions {
  region: string;
  accountId: string;
  now: () => Date;
}

export type Operation = (input: Input) => Promise<Record<string, unknown>> | Record<string, unknown>;

export class KmsService {
  readonly operations: Record<string, Operation>;

  constructor(
    private readonly store: KeyStore,
    private readonly opts: KmsServiceOptions,
  ) {
    this.operations = {
      CreateKey: (i) => this.createKey(i),
      DescribeKey: (i) => ({ KeyMetadata: this.metadata(this.resolve(i.string('KeyId', { max: KEY_ID_MAX }))) }),
      ListKeys: (i) => this.listKeys(i),
      EnableKey: (i) => this.setEnabled(i, true),
      DisableKey: (i) => this.setEnabled(i, false),
      CreateAlias: (i) => this.createAlias(i),
      UpdateAlias: (i) => this.updateAlias(i),
      DeleteAlias: (i) => this.deleteAlias(i),
      ListAliases: (i) => this.listAliases(i),
      EnableKeyRotation: (i) => this.setRotation(i, true),
      DisableKeyRotation: (i) => this.setRotation(i, false),
      GetKeyRotationStatus: (i) => this.getKeyRotationStatus(i),
      RotateKeyOnDemand: (i) => this.rotateKeyOnDemand(i),
      ListKeyRotations: (i) => this.listKeyRotations(i),
      GenerateDataKey: (i) => this.generateDataKey(i, true),
      GenerateDataKeyWithoutPlaintext: (i) => this.generateDataKey(i, false),
      GenerateRandom: (i) => ({ Plaintext: randomBytes(i.optInt('NumberOfBytes', 1, 1024) ?? 32).toString('base64') }),
      Encrypt: (i) => this.encrypt(i),
      Decrypt: (i) => this.decrypt(i),
      ReEncrypt: (i) => this.reEncrypt(i),
      GenerateMac: (i) => this.generateMac(i),
      VerifyMac: (i) => this.verifyMac(i),
    };
  }

  // ---- identifiers -------------------------------------------------------------------------------------------

  arn(keyId: string): string {
    return `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:key/${keyId}`;
  }

  private aliasArn(name: string): string {
    return `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:${name}`;
  }

  /** Key id, key ARN, alias name or alias ARN → the key (NotFoundException otherwise). */
  resolve(keyIdInput: string, opts: { allowAlias?: boolean } = {}): StoredKey {
    const allowAlias = opts.allowAlias ?? true;
    let ref = keyIdInput;
    const arnPrefix = `arn:aws:kms:${this.opts.region}:${this.opts.accountId}:`;
    if (ref.startsWith('arn:')) {
      if (!ref.startsWith(arnPrefix)) throw new KmsError('NotFoundException', `Invalid arn ${keyIdInput}`);
      ref = ref.slice(arnPrefix.length);
      if (ref.startsWith('key/')) ref = ref.slice(4);
      else if (!ref.startsWith('alias/')) throw new KmsError('NotFoundException', `Invalid arn ${keyIdInput}`);
    }
    if (ref.startsWith('alias/')) {
      if (!allowAlias) throw new KmsError('ValidationException', `Alias ${keyIdInput} cannot be used here; name the key by id or ARN.`);
      const alias = this.store.aliases.get(ref);
      if (!alias) throw new KmsError('NotFoundException', `Alias ${this.aliasArn(ref)} is not found.`);
      ref = alias.targetKeyId;
    }
    if (!UUID.test(ref)) throw new KmsError('NotFoundException', `Invalid keyId ${keyIdInput}`);
    const key = this.store.keys.get(ref);
    if (!key) throw new KmsError('NotFoundException', `Key '${this.arn(ref)}' does not exist`);
    return key;
  }

  private usable(key: StoredKey, usage: KeyUsage): StoredKey {
    if (!key.enabled) throw new KmsError('DisabledException', `${this.arn(key.keyId)} is disabled.`);
    if (key.keyUsage !== usage) {
      throw new KmsError('InvalidKeyUsageException', `${this.arn(key.keyId)} key usage is ${key.keyUsage} which is not valid for this operation.`);
    }
    return key;
  }

  private metadata(key: StoredKey): Record<string, unknown> {
    const mac = macAlgorithmOf(key.keySpec);
    return {
      AWSAccountId: this.opts.accountId,
      KeyId: key.keyId,
      Arn: this.arn(key.keyId),
      CreationDate: epochSeconds(key.createdAt),
      Enabled: key.enabled,
      Description: key.description,
      KeyUsage: key.keyUsage,
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      ...(mac ? { MacAlgorithms: [mac] } : { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] }),
      MultiRegion: false,
    };
  }

  private paginate<T>(items: T[], input: Input): { page: T[]; more: Record<string, unknown> } {
    const limit = input.optInt('Limit', 1, 1000) ?? 100;
    const marker = input.optString('Marker', { max: 1024 });
    let start = 0;
    if (marker !== undefined) {
      start = /^\d+$/.test(marker) ? Number(marker) : NaN;
      if (!Number.isSafeInteger(start) || start > items.length) throw new KmsError('InvalidMarkerException', 'Invalid marker.');
    }
    const page = items.slice(start, start + limit);
    const next = start + page.length;
    return { page, more: next < items.length ? { Truncated: true, NextMarker: String(next) } : { Truncated: false } };
  }

  // ---- keys ---------------------------------------------------------------------------------------------------

  private async createKey(i: Input) {
    const description = i.optString('Description', { min: 0, max: 8192 }) ?? '';
    const keyUsage = i.optEnum('KeyUsage', KEY_USAGES) ?? 'ENCRYPT_DECRYPT';
    const keySpec = i.optEnum('KeySpec', KEY_SPECS) ?? i.optEnum('CustomerMasterKeySpec', KEY_SPECS) ?? 'SYMMETRIC_DEFAULT';
    const origin = i.optString('Origin') ?? 'AWS_KMS';
    const tags = i.optTags('Tags');
    if (i.optBool('MultiRegion')) throw new KmsError('UnsupportedOperationException', 'Multi-Region keys are not supported by the simulator.');
    if (origin !== 'AWS_KMS') throw new KmsError('UnsupportedOperationException', `Origin ${origin} is not supported by the simulator.`);
    if (!(SUPPORTED_SPECS as readonly string[]).includes(keySpec)) {
      throw new KmsError('UnsupportedOperationException', `KeySpec ${keySpec} is not supported by the simulator.`);
    }
    const spec = keySpec as KeySpec;
    const expectedUsage: KeyUsage = spec === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : 'GENERATE_VERIFY_MAC';
    if (keyUsage !== expectedUsage) throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${spec}`);
    const key = this.store.createKey({ description, keyUsage: expectedUsage, keySpec: spec, tags }, this.opts.now().getTime());
    await this.store.save();
    return { KeyMetadata: this.metadata(key) };
  }

  private listKeys(i: Input) {
    const keys = [...this.store.keys.values()].sort((a, b) => a.createdAt - b.createdAt || (a.keyId < b.keyId ? -1 : 1));
    const { page, more } = this.paginate(keys, i);
    return { Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: this.arn(k.keyId) })), ...more };
  }

  private async setEnabled(i: Input, enabled: boolean) {
    const key = this.resolve(i.string('KeyId', { max: KEY_ID_MAX }), { allowAlias: false });
    key.enabled = enabled;
    await this.store.save();
    return {};
  }

  // ---- aliases ------------------------------------------------------------------------------------------------

  private aliasName(i: Input): string {
    const name = i.string('AliasName', { max: 256 });
    if (!ALIAS_NAME.test(name)) {
      throw validation('aliasName', 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$ and start with alias/', `'${name}'`);
    }
    if (name.startsWith('alias/aws/')) throw new KmsError('NotFoundException', 'Cannot create or change an alias with the reserved alias/aws/ prefix.');
    return name;
  }

  private async createAlias(i: Input) {
    const name = this.aliasName(i);
    const key = this.resolve(i.string('TargetKeyId', { max: KEY_ID_MAX }), { allowAlias: false });
    if (this.store.aliases.has(name)) throw new KmsError('AlreadyExistsException', `An alias with the name ${this.aliasArn(name)} already exists`);
    const now = this.opts.now().getTime();
    this.store.aliases.set(name, { name, targetKeyId: key.keyId, createdAt: now, updatedAt: now });
    await this.store.save();
    return {};
  }

  private async updateAlias(i: Input) {
    const name = this.aliasName(i);
    const key = this.resolve(i.string('TargetKeyId', { max: KEY_ID_MAX }), { allowAlias: false });
    const alias = this.store.aliases.get(name);
    if (!alias) throw new KmsError('NotFoundException', `Alias ${this.aliasArn(name)} is not found.`);
    alias.targetKeyId = key.keyId;
    alias.updatedAt = this.opts.now().getTime();
    await this.store.save();
    return {};
  }

  private async deleteAlias(i: Input) {
    const name = this.aliasName(i);
    if (!this.store.aliases.delete(name)) throw new KmsError('NotFoundException', `Alias ${this.aliasArn(name)} is not found.`);
    await this.store.save();
    return {};
  }

  private listAliases(i: Input) {
    const keyId = i.optString('KeyId', { max: KEY_ID_MAX });
    let aliases: StoredAlias[] = [...this.store.aliases.values()];
    if (keyId !== undefined) {
      const key = this.resolve(keyId, { allowAlias: false });
      aliases = aliases.filter((a) => a.targetKeyId === key.keyId);
    }
    aliases.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { page, more } = this.paginate(aliases, i);
    return {
      Aliases: page.map((a) => ({
        AliasName: a.name,
        AliasArn: this.aliasArn(a.name),
        TargetKeyId: a.targetKeyId,
        CreationDate: epochSeconds(a.createdAt),
        LastUpdatedDate: epochSeconds(a.updatedAt),
      })),
      ...more,
    };
  }

  // ---- rotation -----------------------------------------------------------------------------------------------

  private rotatable(i: Input): StoredKey {
    const key = this.resolve(i.string('KeyId', { max: KEY_ID_MAX }), { allowAlias: false });
    if (!key.enabled) throw new KmsError('DisabledException', `${this.arn(key.keyId)} is disabled.`);
    if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
      throw new KmsError('UnsupportedOperationException', `${this.arn(key.keyId)} key rotation is only supported for symmetric encryption keys.`);
    }
    return key;
  }

  private async setRotation(i: Input, enabled: boolean) {
    const key = this.rotatable(i);
    const period = enabled ? i.optInt('RotationPeriodInDays', 90, 2560) : undefined;
    key.rotationEnabled = enabled;
    if (period !== undefined) key.rotationPeriodDays = period;
    await this.store.save();
    return {};
  }

  private getKeyRotationStatus(i: Input) {
    const key = this.resolve(i.string('KeyId', { max: KEY_ID_MAX }), { allowAlias: false });
    const lastAutomatic = [...key.versions].reverse().find((v) => v.rotationType !== 'ON_DEMAND') ?? key.versions[0];
    const next = (lastAutomatic?.createdAt ?? key.createdAt) + key.rotationPeriodDays * 86_400_000;
    return {
      KeyId: this.arn(key.keyId),
      KeyRotationEnabled: key.rotationEnabled,
      ...(key.rotationEnabled ? { RotationPeriodInDays: key.rotationPeriodDays, NextRotationDate: epochSeconds(next) } : {}),
    };
  }

  private async rotateKeyOnDemand(i: Input) {
    const key = this.rotatable(i);
    this.store.rotate(key, this.opts.now().getTime(), 'ON_DEMAND');
    await this.store.save();
    return { KeyId: this.arn(key.keyId) };
  }

  private listKeyRotations(i: Input) {
    const key = this.resolve(i.string('KeyId', { max: KEY_ID_MAX }), { allowAlias: false });
    const rotations = key.versions.filter((v) => v.rotationType !== undefined);
    const { page, more } = this.paginate(rotations, i);
    return {
      Rotations: page.map((v) => ({ KeyId: this.arn(key.keyId), RotationDate: epochSeconds(v.createdAt), RotationType: v.rotationType })),
      ...more,
    };
  }

  // ---- encryption ---------------------------------------------------------------------------------------------

  private encryptionAlgorithm(i: Input, name: string): void {
    const alg = i.optEnum(name, ENCRYPTION_ALGORITHMS) ?? 'SYMMETRIC_DEFAULT';
    if (alg !== 'SYMMETRIC_DEFAULT') {
      throw new KmsError('InvalidKeyUsageException', `The encryption algorithm ${alg} is not valid for a symmetric encryption key.`);
    }
  }

  private sealWith(key: StoredKey, plaintext: Buffer, context: EncryptionContext | undefined): Buffer {
    const current = key.versions[key.versions.length - 1];
    if (!current) throw new KmsError('KMSInternalException', 'Key has no material.', 500);
    return seal(key.keyId, current.version, current.material, plaintext, context);
  }

  /** Decrypts a blob: the blob names its key; `keyIdInput`, when given, must name the same key. */
  private openBlob(blob: Buffer, context: EncryptionContext | undefined, keyIdInput: string | undefined): { key: StoredKey; plaintext: Buffer } {
    const header = parseHeader(blob);
    const key = this.store.keys.get(header.keyId);
    if (!key) throw new KmsError('InvalidCiphertextException', 'The ciphertext refers to a key that does not exist in this account.');
    if (keyIdInput !== undefined && this.resolve(keyIdInput).keyId !== key.keyId) {
      throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
    }
    this.usable(key, 'ENCRYPT_DECRYPT');
    const version = key.versions.find((v) => v.version === header.version);
    if (!version) throw new KmsError('InvalidCiphertextException', 'The ciphertext refers to an unknown key version.');
    return { key, plaintext: open(blob, version.material, context) };
  }

  private async generateDataKey(i: Input, withPlaintext: boolean) {
    const key = this.usable(this.resolve(i.string('KeyId', { max: KEY_ID_MAX })), 'ENCRYPT_DECRYPT');
    const keySpec = i.optEnum('KeySpec', ['AES_256', 'AES_128'] as const);
    const numberOfBytes = i.optInt('NumberOfBytes', 1, 1024);
    const context = i.optContext('EncryptionContext');
    if (keySpec !== undefined && numberOfBytes !== undefined) {
      throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec, not both.');
    }
    if (keySpec === undefined && numberOfBytes === undefined) {
      throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.');
    }
    const dataKey = randomBytes(numberOfBytes ?? (keySpec === 'AES_128' ? 16 : 32));
    const blob = this.sealWith(key, dataKey, context);
    const out: Record<string, unknown> = { CiphertextBlob: blob.toString('base64'), KeyId: this.arn(key.keyId) };
    if (withPlaintext) out.Plaintext = dataKey.toString('base64');
    dataKey.fill(0);
    return out;
  }

  private encrypt(i: Input) {
    const key = this.usable(this.resolve(i.string('KeyId', { max: KEY_ID_MAX })), 'ENCRYPT_DECRYPT');
    const plaintext = i.blob('Plaintext', { max: MAX_PLAINTEXT });
    const context = i.optContext('EncryptionContext');
    this.encryptionAlgorithm(i, 'EncryptionAlgorithm');
    const blob = this.sealWith(key, plaintext, context);
    return { CiphertextBlob: blob.toString('base64'), KeyId: this.arn(key.keyId), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  private decrypt(i: Input) {
    const blob = i.blob('CiphertextBlob', { max: MAX_CIPHERTEXT });
    const context = i.optContext('EncryptionContext');
    const keyId = i.optString('KeyId', { max: KEY_ID_MAX });
    this.encryptionAlgorithm(i, 'EncryptionAlgorithm');
    const { key, plaintext } = this.openBlob(blob, context, keyId);
    return { KeyId: this.arn(key.keyId), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  private reEncrypt(i: Input) {
    const blob = i.blob('CiphertextBlob', { max: MAX_CIPHERTEXT });
    const sourceContext = i.optContext('SourceEncryptionContext');
    const sourceKeyId = i.optString('SourceKeyId', { max: KEY_ID_MAX });
    const destination = this.usable(this.resolve(i.string('DestinationKeyId', { max: KEY_ID_MAX })), 'ENCRYPT_DECRYPT');
    const destinationContext = i.optContext('DestinationEncryptionContext');
    this.encryptionAlgorithm(i, 'SourceEncryptionAlgorithm');
    this.encryptionAlgorithm(i, 'DestinationEncryptionAlgorithm');
    const { key: source, plaintext } = this.openBlob(blob, sourceContext, sourceKeyId);
    const out = this.sealWith(destination, plaintext, destinationContext);
    plaintext.fill(0);
    return {
      CiphertextBlob: out.toString('base64'),
      SourceKeyId: this.arn(source.keyId),
      KeyId: this.arn(destination.keyId),
      SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  }

  // ---- MAC ----------------------------------------------------------------------------------------------------

  private mac(i: Input): { key: StoredKey; algorithm: MacAlgorithm; mac: Buffer } {
    const key = this.usable(this.resolve(i.string('KeyId', { max: KEY_ID_MAX })), 'GENERATE_VERIFY_MAC');
    const message = i.blob('Message', { max: MAX_PLAINTEXT });
    const algorithm = i.enum('MacAlgorithm', MAC_ALGORITHMS);
    if (macAlgorithmOf(key.keySpec) !== algorithm) {
      throw new KmsError('InvalidKeyUsageException', `The MAC algorithm ${algorithm} is not valid for ${this.arn(key.keyId)} (${key.keySpec}).`);
    }
    const material = key.versions[key.versions.length - 1]?.material;
    if (!material) throw new KmsError('KMSInternalException', 'Key has no material.', 500);
    const mac = createHmac(`sha${algorithm.slice(9)}`, material).update(message).digest();
    return { key, algorithm, mac };
  }

  private generateMac(i: Input) {
    const { key, algorithm, mac } = this.mac(i);
    return { Mac: mac.toString('base64'), MacAlgorithm: algorithm, KeyId: this.arn(key.keyId) };
  }

  private verifyMac(i: Input) {
    const given = i.blob('Mac', { max: 6144 });
    const { key, algorithm, mac } = this.mac(i);
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) {
      throw new KmsError('KMSInvalidMacException', 'The MAC does not match the message, key and algorithm.');
    }
    return { KeyId: this.arn(key.keyId), MacValid: true, MacAlgorithm: algorithm };
  }

  // ---- start-up -----------------------------------------------------------------------------------------------

  /** Creates a symmetric key behind each alias that does not exist yet; true when something was created. */
  ensureAliases(names: readonly string[]): boolean {
    let created = false;
    for (const name of names) {
      if (!ALIAS_NAME.test(name) || name.startsWith('alias/aws/')) throw new Error(`initialAliases: invalid alias name ${name}`);
      if (this.store.aliases.has(name)) continue;
      const now = this.opts.now().getTime();
      const key = this.store.createKey(
        { description: `Created by the simulator for ${name}`, keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', tags: [] },
        now,
      );
      this.store.aliases.set(name, { name, targetKeyId: key.keyId, createdAt: now, updatedAt: now });
      created = true;
    }
    return created;
  }
}
