/** S3's XML wire format: response documents, error documents and request bodies (fast-xml-parser). */
import { XMLBuilder, XMLParser } from 'fast-xml-parser'
import { AppError } from '../../core/errors.ts'

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/'
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }
/**
 * Text as XML character data. CR and other control characters become
 * character references, so a key such as "a\rb" survives the reader's
 * line-end normalisation (clients that cannot take them list with encoding-type=url).
 */
const escapeXml = (v: unknown) =>
  String(v).replace(/[&<>"'\x00-\x08\x0b\x0c\x0d\x0e-\x1f]/g, (c) => ESCAPES[c] ?? `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`)
const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', processEntities: false, tagValueProcessor: (_n, v) => escapeXml(v), attributeValueProcessor: (_n, v) => escapeXml(v) })
/**
 * Request documents keep every character of a value (no trimming: " " and "_ "
 * are keys) and decode character references (&#x0A; is how the SDKs send a
 * newline); "&amp;" is decoded last, so "&amp;lt;" stays "&lt;".
 */
const REPEATED = new Set(['Part', 'Object', 'Tag', 'Grant'])
const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, htmlEntities: true, isArray: (name) => REPEATED.has(name) })

/** An error whose S3 document carries extra elements after Message (e.g. HeadersNotSigned, ArgumentName). */
export class S3Error extends AppError {
  readonly fields: Record<string, string>
  constructor(status: number, code: string, message: string, fields: Record<string, string>) {
    super(status, code, message)
    this.fields = fields
  }
}

/** The one owner every bucket and object has (nestbox has no S3 accounts). */
export const OWNER = { ID: 'nestbox', DisplayName: 'nestbox' }

export const isoDate = (ms: number) => new Date(ms).toISOString()

/** An XML document with the S3 namespace on its root element. */
export function xmlDoc(root: string, body: Record<string, unknown>, ns = true): string {
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, [root]: ns ? { '@_xmlns': S3_NS, ...body } : body })
}

export function xmlResponse(root: string, body: Record<string, unknown>, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(xmlDoc(root, body), { status: init.status ?? 200, headers: { 'Content-Type': 'application/xml', ...init.headers } })
}

/** The S3 error document. */
export function errorXml(code: string, message: string, resource: string, requestId: string, fields: Record<string, string> = {}): string {
  return xmlDoc('Error', { Code: code, Message: message, ...fields, Resource: resource, RequestId: requestId }, false)
}

/** Parses a request document and returns its root element's content. */
export function parseXml(buf: Buffer, root: string): Record<string, unknown> {
  let doc: Record<string, unknown>
  const text = buf.toString('utf8')
  // No document type declarations: their entities could rewrite values (or expand without bound).
  if (/<!DOCTYPE/i.test(text)) throw new AppError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema (DOCTYPE is not allowed).')
  try {
    doc = parser.parse(text)
  } catch {
    throw new AppError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
  }
  const el = doc?.[root]
  if (el === undefined) throw new AppError(400, 'MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema (expected <${root}>).`)
  return (typeof el === 'object' && el !== null ? el : {}) as Record<string, unknown>
}
