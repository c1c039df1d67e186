// A software WebAuthn authenticator for browserless server tests (security notes W8): one P-256 credential, "none"
// attestation, flags and signature counter under the test's control. The browser test uses Chromium's instead.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoBase64URL, isoCBOR } from '@simplewebauthn/server/helpers';

const FLAG_UP = 0x01; // user present
const FLAG_UV = 0x04; // user verified (PIN, biometrics)
const FLAG_AT = 0x40; // attested credential data follows
const COSE_ES256 = -7;

const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();
const b64url = (data: Uint8Array): string => isoBase64URL.fromBuffer(new Uint8Array(data));

export interface SoftAuthenticatorOptions {
  /** Whether the "user" passes verification (default true); false leaves the UV flag off, as a failed PIN would. */
  userVerified?: boolean;
}

export interface AssertionOptions extends SoftAuthenticatorOptions {
  /** Sign this counter instead of the next one (a cloned authenticator, or one that does not count). */
  counterOverride?: number;
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  signCount = 0;
  private readonly keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private userHandle: string | undefined;

  get id(): string {
    return b64url(this.credentialId);
  }

  /** navigator.credentials.create() as a platform authenticator would answer it, from `origin`. */
  createCredential(options: PublicKeyCredentialCreationOptionsJSON, origin: string, o: SoftAuthenticatorOptions = {}): RegistrationResponseJSON {
    if (!options.pubKeyCredParams.some((p) => p.alg === COSE_ES256)) throw new Error('RP does not accept ES256');
    if (options.excludeCredentials?.some((c) => c.id === this.id)) throw new Error('InvalidStateError: already registered');
    this.userHandle = options.user.id;
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, COSE_ES256], // alg
        [-1, 1], // crv: P-256
        [-2, isoBase64URL.toBuffer(jwk.x!)],
        [-3, isoBase64URL.toBuffer(jwk.y!)],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID: none */, idLength, this.credentialId, cose]);
    const authData = this.authData(options.rp.id ?? new URL(origin).hostname, FLAG_AT | this.flags(o), this.signCount, attested);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Uint8Array | Map<string, never>>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, never>()],
        ['authData', authData],
      ]),
    );
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: this.clientData('webauthn.create', options.challenge, origin),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get(): signs authData ‖ SHA-256(clientDataJSON) with the credential's key (DER ECDSA). */
  getAssertion(options: PublicKeyCredentialRequestOptionsJSON, origin: string, o: AssertionOptions = {}): AuthenticationResponseJSON {
    // An empty list means "any discoverable credential", as in the browser.
    if (options.allowCredentials?.length && !options.allowCredentials.some((c) => c.id === this.id)) {
      throw new Error('NotAllowedError: credential not allowed');
    }
    this.signCount = o.counterOverride ?? this.signCount + 1;
    const authData = this.authData(options.rpId ?? new URL(origin).hostname, this.flags(o), this.signCount);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(isoBase64URL.toBuffer(clientDataJSON))]), this.keys.privateKey);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON, authenticatorData: b64url(authData), signature: b64url(signature), ...(this.userHandle ? { userHandle: this.userHandle } : {}) },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  private flags(o: SoftAuthenticatorOptions): number {
    return FLAG_UP | (o.userVerified === false ? 0 : FLAG_UV);
  }

  /** SHA-256(rpId) ‖ flags ‖ signCount (u32 BE) [‖ attested credential data]. */
  private authData(rpId: string, flags: number, counter: number, attested: Buffer = Buffer.alloc(0)): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, attested]);
  }

  private clientData(type: string, challenge: string, origin: string): string {
    return b64url(Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false })));
  }
}
