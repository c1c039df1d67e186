// Errors of the local development stack; each says what to do about it.
export class DevstackError extends Error {
  constructor(
    readonly code: 'missing_dependency' | 'install_failed' | 'port_in_use' | 'already_running' | 'start_failed',
    message: string,
  ) {
    super(message);
    this.name = 'DevstackError';
  }
}
