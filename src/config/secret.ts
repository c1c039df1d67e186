// Secrets read from a file (NAME_FILE) or the environment (NAME); file-backed ones are re-read when the file changes.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { ConfigError } from './errors.js';

export type SecretListener = (value: string) => void;

/**
 * A secret that may rotate without a redeploy. Consumers read `current()` per use and may
 * subscribe to changes (e.g. reconnect with a new market-data key). It never prints itself.
 */
export interface SecretProvider {
  readonly name: string;
  current(): string;
  onChange(listener: SecretListener): () => void;
  close(): void;
}

class StaticSecret implements SecretProvider {
  constructor(
    readonly name: string,
    private readonly value: string,
  ) {}
  current(): string {
    return this.value;
  }
  onChange(): () => void {
    return () => {};
  }
  close(): void {}
  toJSON(): string {
    return '[secret]';
  }
  toString(): string {
    return '[secret]';
  }
}

class FileSecret implements SecretProvider {
  private value: string;
  private readonly listeners = new Set<SecretListener>();
  private watching = false;

  constructor(
    readonly name: string,
    private readonly path: string,
    private readonly pollMs: number,
  ) {
    this.value = readSecretFile(name, path);
  }

  current(): string {
    return this.value;
  }

  onChange(listener: SecretListener): () => void {
    this.listeners.add(listener);
    this.startWatching();
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.watching) unwatchFile(this.path);
    this.watching = false;
    this.listeners.clear();
  }

  toJSON(): string {
    return '[secret]';
  }
  toString(): string {
    return '[secret]';
  }

  private startWatching(): void {
    if (this.watching) return;
    this.watching = true;
    // Polling, because Kubernetes swaps mounted secrets through symlinks that inotify watchers miss.
    watchFile(this.path, { interval: this.pollMs, persistent: false }, () => {
      let next: string;
      try {
        next = readSecretFile(this.name, this.path);
      } catch {
        return; // mid-rotation (file briefly absent): keep the old value until the new one is readable
      }
      if (next === this.value || next === '') return;
      this.value = next;
      for (const listener of this.listeners) listener(next);
    });
  }
}

function readSecretFile(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${name}_FILE`, `cannot read the secret file (${reason})`);
  }
}

/** Reads NAME_FILE (preferred) or NAME; returns undefined when neither is set. */
export function secretFromEnv(
  env: Record<string, string | undefined>,
  name: string,
  pollMs = 1000,
): SecretProvider | undefined {
  const file = env[`${name}_FILE`];
  if (file) return new FileSecret(name, file, pollMs);
  const value = env[name];
  if (value) return new StaticSecret(name, value);
  return undefined;
}

export function staticSecret(name: string, value: string): SecretProvider {
  return new StaticSecret(name, value);
}
