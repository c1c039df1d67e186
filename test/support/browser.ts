// Headless system Chromium driven by playwright-core, with a CDP virtual authenticator (security notes W7): a platform
// passkey (CTAP2.1, internal transport, resident keys, user verification) that answers every ceremony by itself, so a
// test can register, sign and then switch user verification off. Never downloads a browser.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { aptInstall } from '../../src/devstack/system.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface VirtualCredential {
  credentialId: string;
  rpId?: string;
  signCount: number;
  isResidentCredential: boolean;
}

export interface AuthenticatorBrowser {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
  /** Console messages and page errors, for diagnostics when a step fails. */
  console: string[];
  /** Whether the authenticator's user verification succeeds (false: the browser rejects with NotAllowedError). */
  setUserVerified(verified: boolean): Promise<void>;
  credentials(): Promise<VirtualCredential[]>;
  /** Idempotent: closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Installs Debian's chromium when it is missing, as the test services do for Redis and PostgreSQL (root only;
 * otherwise the error says what to install). .ci/run installs it up front.
 */
export async function ensureChromium(log: (line: string) => void = (line) => console.log(`[browser] ${line}`)): Promise<void> {
  if (existsSync(CHROMIUM_PATH)) return;
  await aptInstall(['chromium'], log);
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH} after apt-get install chromium`);
}

export async function launchWithAuthenticator(): Promise<AuthenticatorBrowser> {
  await ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'raxx-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const lines: string[] = [];
    page.on('console', (m) => lines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        ctap2Version: 'ctap2_1',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    let closed: Promise<void> | undefined;
    const ctx = context;
    return {
      context: ctx,
      page,
      cdp,
      authenticatorId,
      console: lines,
      setUserVerified: async (isUserVerified) => {
        await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified });
      },
      credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as VirtualCredential[],
      close: () =>
        (closed ??= (async () => {
          await ctx.close().catch(() => undefined);
          rmSync(profile, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}
