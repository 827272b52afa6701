/**
 * playwright-core for the browser suite: loaded from the directory test/browser/run.sh installed it
 * into ($BROWSER_DEPS; it is not a dependency of workerctl), and launched on Debian's Chromium with
 * a fresh profile. Only the part of its API the suite uses is typed here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Locator {
  click(): Promise<void>;
  fill(value: string): Promise<void>;
  waitFor(options?: { state?: 'attached' | 'visible' | 'hidden'; timeout?: number }): Promise<void>;
}

export interface Page {
  goto(url: string): Promise<unknown>;
  locator(selector: string): Locator;
  /** Evaluates a JavaScript expression in the page. */
  evaluate<T>(expression: string): Promise<T>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<Buffer>;
  on(event: 'console', fn: (message: { type(): string; text(): string }) => void): void;
  on(event: 'request', fn: (request: { url(): string }) => void): void;
  on(event: 'pageerror', fn: (error: Error) => void): void;
}

export interface BrowserContext {
  pages(): Page[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface Chromium {
  launchPersistentContext(
    userDataDir: string,
    options: {
      executablePath: string;
      headless: boolean;
      args: string[];
      viewport: { width: number; height: number };
    },
  ): Promise<BrowserContext>;
}

/** The flags the suite runs Chromium with (headless comes from `headless: true`). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Launches Chromium with a fresh --user-data-dir; close() also removes it. */
export async function launchChromium(viewport = { width: 1400, height: 900 }): Promise<{
  context: BrowserContext;
  page: Page;
  close: () => Promise<void>;
}> {
  const deps = process.env.BROWSER_DEPS;
  if (!deps) throw new Error('BROWSER_DEPS is not set: run this suite with `make browser`');
  const require = createRequire(join(deps, 'node_modules', 'index.js'));
  const { chromium } = require('playwright-core') as { chromium: Chromium };
  const profile = mkdtempSync(join(tmpdir(), 'workerctl-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
