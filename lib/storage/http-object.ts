/** Object response headers and download responses, shared by the JSON and S3 surfaces. */
import type { ServerResponse } from 'node:http'
// A native Response created at import time: the adapter then leaves the socket alone.
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { headerOf } from './bytes/checksums.ts'
import type { Download } from './objects.ts'
import type { ObjectInfo } from './types.ts'

/** Types a browser would run as active content: served sandboxed so an upload cannot script our origin. */
const ACTIVE = /^(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|text\/javascript|application\/javascript)/i

export const quoteEtag = (etag: string) => `"${etag}"`
export const httpDate = (ms: number) => new Date(ms).toUTCString()

/** Response headers of an object, as a plain record (cheaper for the Node adapter than a Headers instance). */
export function objectHeaders(info: ObjectInfo, o: { checksum?: boolean; overrides?: Record<string, string> } = {}): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': info.contentType,
    'content-length': String(info.size),
    etag: quoteEtag(info.etag),
    'last-modified': httpDate(info.lastModified),
    'accept-ranges': 'bytes',
  }
  for (const [k, v] of Object.entries(info.headers)) h[k] = v
  for (const [k, v] of Object.entries(info.meta)) h[`x-amz-meta-${k}`] = v
  if (info.expiresAt !== null) h['x-amz-expiration'] = `expiry-date="${httpDate(info.expiresAt)}", rule-id="bucket-ttl"`
  if (info.partsCount) h['x-amz-mp-parts-count'] = String(info.partsCount)
  if (info.tags.length) h['x-amz-tagging-count'] = String(info.tags.length)
  if (o.checksum && info.checksum) {
    h[headerOf(info.checksum.algorithm)] = info.checksum.value
    h['x-amz-checksum-type'] = info.checksum.type
  }
  for (const [k, v] of Object.entries(o.overrides ?? {})) h[k.toLowerCase()] = v
  if (ACTIVE.test(h['content-type'])) h['content-security-policy'] = 'sandbox'
  return h
}

/**
 * 200/206 with the byte stream, or 304 with validators only. Under Node the file
 * is piped straight into the socket (`outgoing`): no web-stream hop per chunk.
 */
export function downloadResponse(d: Download, o: { checksum?: boolean; overrides?: Record<string, string>; outgoing?: ServerResponse; extraHeaders?: Record<string, string> } = {}): Response {
  if (d.status === 304) return new Response(null, { status: 304, headers: { etag: quoteEtag(d.info.etag), 'last-modified': httpDate(d.info.lastModified) } })
  // A checksum describes the whole object: only sent with a full download.
  const h = objectHeaders(d.info, { checksum: o.checksum && !d.range, overrides: o.overrides })
  if (d.range) {
    h['content-length'] = String(d.range.end - d.range.start + 1)
    h['content-range'] = `bytes ${d.range.start}-${d.range.end}/${d.info.size}`
  }
  if (d.body.bytes) return new Response(d.body.bytes as Uint8Array<ArrayBuffer>, { status: d.status, headers: h })
  const out = o.outgoing
  if (!out || out.headersSent) return new Response(d.body.web(), { status: d.status, headers: h })
  out.writeHead(d.status, { ...h, ...o.extraHeaders })
  // A failed read cannot change a status already sent: the body cuts the connection so the client sees a short body.
  d.body.pipe(out)
  return RESPONSE_ALREADY_SENT
}
