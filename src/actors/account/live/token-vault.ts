// The decrypted live tokens of this replica's users, in memory only: opened with one KMS Decrypt when first needed
// (per actor activation), then reused for every order, so KMS is never on the per-order path. Keyed by connection
// id and version, so a refresh or a reconnect elsewhere is never served a stale token.
import type { Tx } from '../../../infra/db/index.js';
import type { Envelope } from '../../../infra/kms/index.js';
import { openTokens, type LiveConnection, type TokenSet } from '../../../infra/live/connections.js';

interface Entry {
  connectionId: string;
  version: number;
  tokens: TokenSet;
}

export class TokenVault {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly envelope: Envelope) {}

  async tokens(tx: Tx, connection: LiveConnection): Promise<TokenSet> {
    const hit = this.entries.get(connection.userId);
    if (hit && hit.connectionId === connection.id && hit.version === connection.version) return hit.tokens;
    const tokens = await openTokens(tx, this.envelope, connection);
    this.put(connection.userId, connection, tokens);
    return tokens;
  }

  async accessToken(tx: Tx, connection: LiveConnection): Promise<string> {
    return (await this.tokens(tx, connection)).accessToken;
  }

  put(userId: string, connection: Pick<LiveConnection, 'id' | 'version'>, tokens: TokenSet): void {
    this.entries.set(userId, { connectionId: connection.id, version: connection.version, tokens });
  }

  /** The access token already in memory (trade-update followers authenticate with it), never opened here. */
  cached(userId: string): string | undefined {
    return this.entries.get(userId)?.tokens.accessToken;
  }

  drop(userId: string): void {
    this.entries.delete(userId);
  }
}
