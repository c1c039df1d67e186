// KMS errors as the AWS JSON 1.1 protocol carries them: an HTTP status plus `__type` (the exception name) and `message`.

export type KmsErrorName =
  | 'AlreadyExistsException'
  | 'DisabledException'
  | 'IncompleteSignatureException'
  | 'IncorrectKeyException'
  | 'InvalidAliasNameException'
  | 'InvalidCiphertextException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'InvalidSignatureException'
  | 'KMSInternalException'
  | 'KMSInvalidMacException'
  | 'KMSInvalidStateException'
  | 'MissingAuthenticationTokenException'
  | 'NotFoundException'
  | 'RequestEntityTooLargeException'
  | 'SerializationException'
  | 'ThrottlingException'
  | 'UnknownOperationException'
  | 'UnrecognizedClientException'
  | 'UnsupportedOperationException'
  | 'ValidationException';

/** A failure the server answers with `{"__type": name, "message": …}`; 400 unless it is the service's fault. */
export class KmsError extends Error {
  override readonly name: KmsErrorName;
  readonly status: number;

  constructor(name: KmsErrorName, message: string, status = 400) {
    super(message);
    this.name = name;
    this.status = status;
  }
}

/** AWS's wording for a missing required member, e.g. `Value null at 'keyId' failed to satisfy constraint: …`. */
export function validation(member: string, constraint: string, value = 'null'): KmsError {
  return new KmsError('ValidationException', `1 validation error detected: Value ${value} at '${member}' failed to satisfy constraint: ${constraint}`);
}
