/**
 * OS-level input: XTest events on the replica's X display through xdotool,
 * run inside the replica's capsule. The page sees a real pointer and keyboard
 * (isTrusted events with a path and a rhythm), not DOM events sent over CDP.
 *
 * Each gesture is one xdotool process with its steps chained (`mousemove …
 * sleep … mousemove …`), so the timing is xdotool's, not one exec per step.
 */
import type { Page } from 'playwright-core'
import type { ReplicaHandle } from './replica-handle.ts'

export type Point = { x: number; y: number }
export type Rand = () => number

/** Longest text system_type takes in one request. */
export const MAX_TYPE_CHARS = 10_000

export class InputError extends Error {}

const round = (n: number) => Math.round(n)
const between = (rand: Rand, lo: number, hi: number) => lo + (hi - lo) * rand()
const secs = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3)

/**
 * A human-like pointer path from `from` to `to`: a cubic Bézier bent to one side
 * by a random amount, walked with ease-in-out speed and a pixel of tremor; the
 * last point is exactly `to`. Each point carries the wait before it.
 */
export function mousePath(from: Point, to: Point, durationMs: number, rand: Rand = Math.random): Array<Point & { waitMs: number }> {
  const dx = to.x - from.x
  const dy = to.y - from.y
  const dist = Math.hypot(dx, dy)
  if (dist < 1) return [{ ...to, waitMs: 0 }]
  // Unit normal to the straight line: the control points sit off it, on one side.
  const nx = -dy / dist
  const ny = dx / dist
  const bend = Math.min(dist * between(rand, 0.08, 0.3), 200) * (rand() < 0.5 ? -1 : 1)
  const c1 = { x: from.x + dx * between(rand, 0.2, 0.4) + nx * bend, y: from.y + dy * between(rand, 0.2, 0.4) + ny * bend }
  const c2 = { x: from.x + dx * between(rand, 0.6, 0.8) + nx * bend * between(rand, 0.3, 1), y: from.y + dy * between(rand, 0.6, 0.8) + ny * bend * between(rand, 0.3, 1) }
  const steps = Math.max(8, Math.min(100, Math.round(durationMs / 12)))
  const out: Array<Point & { waitMs: number }> = []
  for (let i = 1; i <= steps; i++) {
    const t = (1 - Math.cos((Math.PI * i) / steps)) / 2 // ease in and out
    const u = 1 - t
    let x = u * u * u * from.x + 3 * u * u * t * c1.x + 3 * u * t * t * c2.x + t * t * t * to.x
    let y = u * u * u * from.y + 3 * u * u * t * c1.y + 3 * u * t * t * c2.y + t * t * t * to.y
    if (i < steps) {
      x += between(rand, -0.8, 0.8)
      y += between(rand, -0.8, 0.8)
    }
    out.push({ x: i === steps ? to.x : round(x), y: i === steps ? to.y : round(y), waitMs: (durationMs / steps) * between(rand, 0.7, 1.3) })
  }
  return out
}

// X keysym names of the printable ASCII characters that are not letters or digits.
const CHAR_KEYSYMS: Record<string, string> = {
  ' ': 'space', '!': 'exclam', '"': 'quotedbl', '#': 'numbersign', $: 'dollar', '%': 'percent', '&': 'ampersand', "'": 'apostrophe',
  '(': 'parenleft', ')': 'parenright', '*': 'asterisk', '+': 'plus', ',': 'comma', '-': 'minus', '.': 'period', '/': 'slash',
  ':': 'colon', ';': 'semicolon', '<': 'less', '=': 'equal', '>': 'greater', '?': 'question', '@': 'at', '[': 'bracketleft',
  '\\': 'backslash', ']': 'bracketright', '^': 'asciicircum', _: 'underscore', '`': 'grave', '{': 'braceleft', '|': 'bar',
  '}': 'braceright', '~': 'asciitilde', '\n': 'Return', '\t': 'Tab',
}

/** The keysym that types one character (xdotool maps a spare keycode for those the keyboard lacks). */
export function charKeysym(ch: string): string {
  if (/^[A-Za-z0-9]$/.test(ch)) return ch
  const named = CHAR_KEYSYMS[ch]
  if (named) return named
  const cp = ch.codePointAt(0)!
  if (cp < 0x20 || cp === 0x7f) throw new InputError(`cannot type control character U+${cp.toString(16).padStart(4, '0')}`)
  return 'U' + cp.toString(16).toUpperCase().padStart(4, '0')
}

/** The longest typing `chars` characters can take: gaps jitter up to 3× the interval, a hold adds up to 70 ms. */
export const typingBudgetMs = (chars: number, intervalSec: number) => chars * (intervalSec * 3000 + 100) + 30_000

/** xdotool arguments that type `text` one key at a time, the gaps jittered around `intervalSec` and longer after words. */
export function typingArgs(text: string, intervalSec: number, rand: Rand = Math.random): string[] {
  const chars = [...text.replace(/\r\n?/g, '\n')]
  if (chars.length > MAX_TYPE_CHARS) throw new InputError(`text is longer than ${MAX_TYPE_CHARS} characters`)
  const args: string[] = []
  chars.forEach((ch, i) => {
    // Held like a finger holds a key; keydown/keyup also keep xdotool's spare-keycode mapping of a non-keyboard
    // character in place until the key is up, so the browser reads the character, not an unmapped key.
    const sym = charKeysym(ch)
    // A spare keycode maps a lone keysym as (lower, upper): a capital beyond ASCII needs shift to come out as one.
    const ascii = /^[\x00-\x7f]$/.test(ch)
    const shift = !ascii && ch !== ch.toLowerCase()
    // `interval` is from one key press to the next: the hold is part of it (though never under 30 ms beyond ASCII).
    const hold = ascii ? Math.min(between(rand, 30, 70), intervalSec * 600) : between(rand, 30, 70)
    if (shift) args.push('keydown', 'Shift_L')
    args.push('keydown', sym, 'sleep', secs(hold), 'keyup', sym)
    if (shift) args.push('keyup', 'Shift_L')
    if (i === chars.length - 1) return
    let gap = intervalSec * 1000 * between(rand, 0.55, 1.5)
    if (ch === ' ' || ch === '\n') gap *= between(rand, 1.2, 2)
    args.push('sleep', secs(gap - hold))
  })
  return args
}

// compat(stealthy-auto-browse 000): send_key takes PyAutoGUI key names; these are their X keysyms.
const KEY_NAMES: Record<string, string> = {
  enter: 'Return', return: 'Return', tab: 'Tab', esc: 'Escape', escape: 'Escape', backspace: 'BackSpace', delete: 'Delete', del: 'Delete',
  space: 'space', up: 'Up', down: 'Down', left: 'Left', right: 'Right', home: 'Home', end: 'End', pageup: 'Prior', pgup: 'Prior',
  pagedown: 'Next', pgdn: 'Next', insert: 'Insert', capslock: 'Caps_Lock', printscreen: 'Print', prtsc: 'Print', pause: 'Pause',
  numlock: 'Num_Lock', scrolllock: 'Scroll_Lock', menu: 'Menu', apps: 'Menu',
  ctrl: 'ctrl', control: 'ctrl', ctrlleft: 'Control_L', ctrlright: 'Control_R', shift: 'shift', shiftleft: 'Shift_L', shiftright: 'Shift_R',
  alt: 'alt', altleft: 'Alt_L', altright: 'Alt_R', option: 'alt', win: 'super', winleft: 'Super_L', winright: 'Super_R', super: 'super',
  command: 'super', cmd: 'super', meta: 'super',
  volumeup: 'XF86AudioRaiseVolume', volumedown: 'XF86AudioLowerVolume', volumemute: 'XF86AudioMute',
}

/** "ctrl+shift+t" → "ctrl+shift+t", "enter" → "Return", "f5" → "F5", "a" → "a"; an unknown name is an error. */
export function keyCombo(key: string): string {
  const parts = key.split('+').map((p) => p.trim())
  if (!key.trim() || parts.some((p) => !p)) throw new InputError(`invalid key: "${key}"`)
  return parts
    .map((p) => {
      const lower = p.toLowerCase()
      if (KEY_NAMES[lower]) return KEY_NAMES[lower]
      if (/^f([1-9]|1[0-9]|2[0-4])$/.test(lower)) return lower.toUpperCase()
      if ([...p].length === 1) return charKeysym(p)
      // An X keysym name given as is (Page_Up, KP_Enter, XF86Back): xdotool checks it.
      if (/^[A-Za-z][A-Za-z0-9_]*$/.test(p)) return p
      throw new InputError(`unknown key: "${p}"`)
    })
    .join('+')
}

async function xdotool(r: ReplicaHandle, args: string[], timeoutMs = 30_000): Promise<string> {
  const res = await r.exec(['xdotool', ...args], { timeoutMs: Math.ceil(timeoutMs) })
  // xdotool reports an unknown keysym on stderr and goes on with exit code 0.
  const unknown = /No such key name '([^']*)'/.exec(res.stderr)
  if (unknown) throw new InputError(`unknown key: "${unknown[1]}"`)
  if (res.exitCode !== 0) throw new Error(`xdotool failed (exit ${res.exitCode}): ${res.stderr.trim().split('\n')[0] ?? ''}`)
  return res.stdout.toString('utf8')
}

export async function pointerAt(r: ReplicaHandle): Promise<Point> {
  const out = await xdotool(r, ['getmouselocation', '--shell'])
  const x = /^X=(-?\d+)/m.exec(out)
  const y = /^Y=(-?\d+)/m.exec(out)
  if (!x || !y) throw new Error('xdotool getmouselocation gave no position')
  return { x: Number(x[1]), y: Number(y[1]) }
}

function inScreen(r: ReplicaHandle, p: Point): Point {
  const x = round(p.x)
  const y = round(p.y)
  if (!Number.isFinite(x) || !Number.isFinite(y) || x < 0 || y < 0 || x >= r.screen.width || y >= r.screen.height) {
    throw new InputError(`point (${p.x}, ${p.y}) is outside the screen (${r.screen.width}x${r.screen.height})`)
  }
  return { x, y }
}

/** Moves the pointer along a human-like path to a screen point; `durationSec` defaults to 0.2–0.6 s as the original. */
export async function moveMouse(r: ReplicaHandle, to: Point, durationSec?: number | null, rand: Rand = Math.random): Promise<void> {
  const target = inScreen(r, to)
  const ms = durationSec == null ? between(rand, 200, 600) : Math.max(0, Math.min(durationSec, 10)) * 1000
  const from = await pointerAt(r)
  const args: string[] = []
  for (const p of mousePath(from, target, ms, rand)) {
    if (args.length) args.push('sleep', secs(p.waitMs))
    args.push('mousemove', String(p.x), String(p.y))
  }
  await xdotool(r, args, ms + 30_000)
}

/** A press and release of a mouse button where the pointer is, held as long as a finger does. */
export async function clickButton(r: ReplicaHandle, button = 1, rand: Rand = Math.random): Promise<void> {
  await xdotool(r, ['mousedown', String(button), 'sleep', secs(between(rand, 50, 120)), 'mouseup', String(button)])
}

export async function clickAt(r: ReplicaHandle, at: Point, rand: Rand = Math.random): Promise<void> {
  const p = inScreen(r, at)
  await xdotool(r, ['mousemove', String(p.x), String(p.y)])
  await clickButton(r, 1, rand)
}

export async function typeText(r: ReplicaHandle, text: string, intervalSec: number, rand: Rand = Math.random): Promise<void> {
  if (!text) return
  const args = typingArgs(text, intervalSec, rand)
  await xdotool(r, args, typingBudgetMs([...text].length, intervalSec))
}

export async function sendKey(r: ReplicaHandle, key: string): Promise<void> {
  await xdotool(r, ['key', '--delay', '0', keyCombo(key)])
}

/** Mouse wheel notches: negative scrolls down, positive up (compat: PyAutoGUI's sign). */
export async function wheel(r: ReplicaHandle, amount: number, rand: Rand = Math.random): Promise<void> {
  const n = Math.min(Math.abs(Math.trunc(amount)), 100)
  const args: string[] = []
  for (let i = 0; i < n; i++) {
    if (i) args.push('sleep', secs(between(rand, 30, 90)))
    args.push('click', amount < 0 ? '5' : '4')
  }
  if (args.length) await xdotool(r, args, n * 200 + 30_000)
}

/**
 * Where the page's viewport starts on the screen, from the window's geometry:
 * the browser's frame is as wide on the sides as at the bottom, the rest of the
 * height difference is the tab strip and toolbar on top.
 */
export async function viewportOrigin(page: Page): Promise<Point> {
  return page.evaluate(() => {
    const side = Math.max(0, (window.outerWidth - window.innerWidth) / 2)
    return { x: Math.round(window.screenX + side), y: Math.round(window.screenY + window.outerHeight - window.innerHeight - side) }
  })
}
