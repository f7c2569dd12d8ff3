/**
 * Screenshots of a replica as PNG: the page's viewport (Chromium renders it) or
 * the whole X screen (ImageMagick's `import` on the replica's display), with the
 * original's optional resize (width, height, whLargest). Capture from the
 * display and every resize run inside the replica's capsule, so no image from a
 * hostile page is decoded by nestbox itself.
 */
import { invalid } from '../core/errors.ts'
import { activePage } from './actions/state.ts'
import type { ReplicaHandle } from './replica-handle.ts'

export type ScreenshotKind = 'browser' | 'desktop'
export type Resize = { width?: number; height?: number; whLargest?: number }

const MAX_SIDE = 8192
const EXEC_TIMEOUT_MS = 30_000

/** Reads width/height/whLargest from query or action parameters; each a whole number of pixels, 1–8192. */
export function parseResize(p: Record<string, unknown>): Resize {
  const out: Resize = {}
  for (const k of ['width', 'height', 'whLargest'] as const) {
    const v = p[k]
    if (v === undefined || v === null || v === '') continue
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN
    if (!Number.isInteger(n) || n < 1 || n > MAX_SIDE) throw invalid(`${k} must be a whole number of pixels from 1 to ${MAX_SIDE}`)
    out[k] = n
  }
  return out
}

/**
 * compat(stealthy-auto-browse 000): whLargest scales the longer side to it;
 * width and height together force both (the image may stretch); one alone keeps
 * the aspect ratio. Null when nothing is asked.
 */
export function targetSize(w: number, h: number, r: Resize): { width: number; height: number } | null {
  const keep = (n: number) => Math.max(1, Math.floor(n))
  if (r.whLargest) return w >= h ? { width: r.whLargest, height: keep((h * r.whLargest) / w) } : { width: keep((w * r.whLargest) / h), height: r.whLargest }
  if (r.width && r.height) return { width: r.width, height: r.height }
  if (r.width) return { width: r.width, height: keep((h * r.width) / w) }
  if (r.height) return { width: keep((w * r.height) / h), height: r.height }
  return null
}

/** Width and height from a PNG's header chunk (IHDR is always first, at a fixed offset). */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.length < 24 || png.readUInt32BE(0) !== 0x89504e47 || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG image')
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

async function runImage(r: ReplicaHandle, argv: string[], stdin?: Buffer): Promise<Buffer> {
  const res = await r.exec(argv, { stdin, timeoutMs: EXEC_TIMEOUT_MS })
  if (res.exitCode !== 0 || res.stdout.length === 0) throw new Error(`${argv[0].split('/').pop()} failed (exit ${res.exitCode}): ${res.stderr.trim().split('\n')[0] ?? ''}`)
  return res.stdout
}

async function resize(r: ReplicaHandle, png: Buffer, size: { width: number; height: number }): Promise<Buffer> {
  // "!" sets both sides as given; the caller has already kept the aspect ratio where it should be kept.
  return runImage(r, ['/usr/bin/convert', 'png:-', '-filter', 'Lanczos', '-resize', `${size.width}x${size.height}!`, '-strip', 'png:-'], png)
}

/** A PNG of the replica's current tab or of its whole screen, resized when asked. */
export async function screenshot(r: ReplicaHandle, kind: ScreenshotKind, want: Resize = {}): Promise<Buffer> {
  const png = kind === 'desktop'
    ? await runImage(r, ['/usr/bin/import', '-window', 'root', '-strip', 'png:-'])
    : await (await activePage(r)).screenshot({ type: 'png', timeout: EXEC_TIMEOUT_MS })
  const { width, height } = pngSize(png)
  const size = targetSize(width, height, want)
  if (!size || (size.width === width && size.height === height)) return png
  return resize(r, png, size)
}
