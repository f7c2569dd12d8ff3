/** Object response headers and download responses, shared by the JSON and S3 surfaces. */
import type { ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
// A native Response created at import time: the adapter then leaves the socket alone.
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { headerOf } from './checksums.ts'
import type { Download } from './objects.ts'
import type { ObjectInfo } from './types.ts'

/** Types a browser would run as active content: served sandboxed so an upload cannot script our origin. */
const ACTIVE = /^(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|text\/javascript|application\/javascript)/i

export const quoteEtag = (etag: string) => `"${etag}"`
export const httpDate = (ms: number) => new Date(ms).toUTCString()

export function objectHeaders(info: ObjectInfo, o: { checksum?: boolean; overrides?: Record<string, string> } = {}): Headers {
  const h = new Headers()
  h.set('Content-Type', info.contentType)
  h.set('Content-Length', String(info.size))
  h.set('ETag', quoteEtag(info.etag))
  h.set('Last-Modified', httpDate(info.lastModified))
  h.set('Accept-Ranges', 'bytes')
  for (const [k, v] of Object.entries(info.headers)) h.set(k, v)
  for (const [k, v] of Object.entries(info.meta)) h.set(`x-amz-meta-${k}`, v)
  if (info.expiresAt !== null) h.set('x-amz-expiration', `expiry-date="${httpDate(info.expiresAt)}", rule-id="bucket-ttl"`)
  if (info.partsCount) h.set('x-amz-mp-parts-count', String(info.partsCount))
  if (o.checksum && info.checksum) {
    h.set(headerOf(info.checksum.algorithm), info.checksum.value)
    h.set('x-amz-checksum-type', info.checksum.type)
  }
  for (const [k, v] of Object.entries(o.overrides ?? {})) h.set(k, v)
  if (ACTIVE.test(h.get('Content-Type') ?? '')) h.set('Content-Security-Policy', 'sandbox')
  return h
}

/**
 * 200/206 with the byte stream, or 304 with validators only. Under Node the file
 * is piped straight into the socket (`outgoing`): no web-stream hop per chunk.
 */
export function downloadResponse(d: Download, o: { checksum?: boolean; overrides?: Record<string, string>; outgoing?: ServerResponse; extraHeaders?: Record<string, string> } = {}): Response {
  if (d.status === 304) {
    const h = new Headers({ ETag: quoteEtag(d.info.etag), 'Last-Modified': httpDate(d.info.lastModified) })
    return new Response(null, { status: 304, headers: h })
  }
  // A checksum describes the whole object: only sent with a full download.
  const h = objectHeaders(d.info, { checksum: o.checksum && !d.range, overrides: o.overrides })
  if (d.range) {
    h.set('Content-Length', String(d.range.end - d.range.start + 1))
    h.set('Content-Range', `bytes ${d.range.start}-${d.range.end}/${d.info.size}`)
  }
  for (const [k, v] of Object.entries(o.extraHeaders ?? {})) h.set(k, v)
  if (d.body.bytes) return new Response(d.body.bytes as Uint8Array<ArrayBuffer>, { status: d.status, headers: h })
  const out = o.outgoing
  if (!out || out.headersSent) return new Response(d.body.web(), { status: d.status, headers: h })
  out.writeHead(d.status, Object.fromEntries(h))
  const src = d.body.node()
  // A failed read cannot change a status already sent: cut the connection so the client sees a short body.
  pipeline(src, out).catch(() => out.destroy())
  return RESPONSE_ALREADY_SENT
}
