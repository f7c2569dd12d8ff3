/**
 * What makes a replica look like a person's browser: a real headful Chromium on
 * an X display (so no HeadlessChrome, a real window, real plugins and
 * window.chrome), launched without the automation switches, with one
 * fingerprint per replica profile that stays the same across restarts.
 *
 * The pool (replica.ts) launches Chromium itself with chromiumArgs() and
 * chromiumEnv(), then connects over CDP and calls applyStealth() once.
 */
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import type { BrowserContext } from 'playwright-core'
import type { StealthConfig } from './replica-handle.ts'

export type Fingerprint = {
  profileId: string
  userAgent: string
  /** navigator.platform as Chromium on Linux reports it. */
  platform: string
  /** navigator.languages: the configured locale, then its base language. */
  languages: string[]
  locale: string
  timezone: string
  /** The X screen (Xvfb's size) and so screen.width/height; the window fills it. */
  screen: { width: number; height: number }
  /** UNMASKED_VENDOR/RENDERER_WEBGL: a desktop GPU instead of the software renderer Xvfb implies. */
  webgl: { vendor: string; renderer: string }
  /** Upstream proxy URL, or null for direct. */
  proxy: string | null
}

// Common desktop sizes and Linux GPUs; a profile picks one of each by its hash, so it keeps them.
const SCREENS = [
  { width: 1920, height: 1080 },
  { width: 1600, height: 900 },
  { width: 1536, height: 864 },
  { width: 1440, height: 900 },
  { width: 1366, height: 768 },
]
const GPUS = [
  { vendor: 'Google Inc. (Intel)', renderer: 'ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)' },
  { vendor: 'Google Inc. (Intel)', renderer: 'ANGLE (Intel, Mesa Intel(R) Iris(R) Xe Graphics (TGL GT2), OpenGL 4.6)' },
  { vendor: 'Google Inc. (AMD)', renderer: 'ANGLE (AMD, AMD Radeon Graphics (radeonsi, renoir, LLVM 15.0.6, DRM 3.49, 6.1.0-18-amd64), OpenGL 4.6)' },
  { vendor: 'Google Inc. (NVIDIA Corporation)', renderer: 'ANGLE (NVIDIA Corporation, NVIDIA GeForce GTX 1650/PCIe/SSE2, OpenGL 4.5.0)' },
]

let major: string | null = null
/** The installed Chromium's major version: the user agent must name the browser that answers, or feature checks give it away. */
function chromiumMajor(): string {
  if (major) return major
  try {
    const out = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })
    major = /(\d+)\.\d+\.\d+/.exec(out)?.[1] ?? null
  } catch {
    major = null
  }
  return (major ??= '140')
}

/** The fingerprint of one replica profile: the same profile id always gets the same one. */
export function fingerprintFor(profileId: string, config: StealthConfig): Fingerprint {
  const h = createHash('sha256').update(profileId).digest()
  const lang = config.locale.split('-')[0]
  return {
    profileId,
    // Chrome's reduced user agent on Linux: the same string a person's Chrome of this version sends.
    userAgent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chromiumMajor()}.0.0.0 Safari/537.36`,
    platform: 'Linux x86_64',
    languages: lang && lang !== config.locale ? [config.locale, lang] : [config.locale],
    locale: config.locale,
    timezone: config.timezone,
    screen: SCREENS[h[0] % SCREENS.length],
    webgl: GPUS[h[1] % GPUS.length],
    proxy: config.proxy ? config.proxy : null,
  }
}

/**
 * Chromium switches for a stealthy headful replica (the pool adds --user-data-dir,
 * the CDP port and --no-sandbox). Not playwright's launch(): its defaults add
 * --enable-automation (the infobar, navigator.webdriver) among others.
 */
export function chromiumArgs(fp: Fingerprint): string[] {
  return [
    // navigator.webdriver stays false although CDP is attached.
    '--disable-blink-features=AutomationControlled',
    `--user-agent=${fp.userAgent}`,
    `--lang=${fp.locale}`,
    `--accept-lang=${fp.languages.join(',')}`,
    '--window-position=0,0',
    `--window-size=${fp.screen.width},${fp.screen.height}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-session-crashed-bubble',
    '--hide-crash-restore-bubble',
    '--password-store=basic',
    // A replica lives in 256 MiB (compat): no spare renderer kept warm, no left pages kept for back/forward,
    // no WebUI omnibox popup preloaded in a renderer of its own (~50 MiB; the native popup is what people see);
    // and it fetches nothing of its own (component updates, field trials), only what the pages ask for.
    '--disable-features=Translate,MediaRouter,OptimizationHints,SpareRendererForSitePerProcess,BackForwardCache,WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup,PreloadTopChromeWebUI',
    '--disable-background-networking',
    '--disable-component-update',
    // No GPU under Xvfb: without the software renderer there is no WebGL at all, which no person's browser lacks.
    '--enable-unsafe-swiftshader',
    // The infobar Chromium shows for --no-sandbox would take viewport height and give the replica away.
    '--test-type',
    ...(fp.proxy ? [`--proxy-server=${fp.proxy}`] : []),
  ]
}

/** Environment of the Chromium process: its time zone and locale come from here, as on a person's machine. */
export function chromiumEnv(fp: Fingerprint): Record<string, string> {
  const posix = `${fp.locale.replace('-', '_')}.UTF-8`
  return { TZ: fp.timezone, LANG: posix, LANGUAGE: fp.languages.map((l) => l.replace('-', '_')).join(':') }
}

/** Runs in every document before the page's scripts: only what the switches cannot set. */
function initScript(fp: Fingerprint) {
  const vendor = fp.webgl.vendor
  const renderer = fp.webgl.renderer
  // A patched function must still print as native code, or toString() checks give the patch away.
  const natives = new WeakMap<object, string>()
  const toString = Function.prototype.toString
  const patchedToString = function (this: object) {
    return natives.get(this) ?? toString.call(this)
  }
  natives.set(patchedToString, toString.call(toString))
  Function.prototype.toString = patchedToString
  for (const proto of [globalThis.WebGLRenderingContext?.prototype, globalThis.WebGL2RenderingContext?.prototype]) {
    if (!proto) continue
    const original = proto.getParameter
    const getParameter = function (this: WebGLRenderingContext, p: number) {
      if (p === 0x9245) return vendor // UNMASKED_VENDOR_WEBGL
      if (p === 0x9246) return renderer // UNMASKED_RENDERER_WEBGL
      return original.call(this, p)
    }
    natives.set(getParameter, toString.call(original))
    Object.defineProperty(proto, 'getParameter', { value: getParameter, writable: true, configurable: true, enumerable: true })
  }
}

/** Once per browser connection, before the first page is used. */
export async function applyStealth(context: BrowserContext, fp: Fingerprint): Promise<void> {
  // Every later document of every tab (an already open blank tab from its next navigation on). No evaluate in open
  // tabs here: one whose first document is not yet committed would hold the replica's start up indefinitely.
  await context.addInitScript(initScript, fp)
}
