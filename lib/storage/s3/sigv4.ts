/**
 * AWS Signature Version 4 for S3: header auth (Authorization: AWS4-HMAC-SHA256
 * ...) and presigned query auth (X-Amz-Signature=...), plus presigned URL
 * generation. The canonical request is rebuilt from the raw request line, so
 * what the client signed is what we check. Storage-agnostic: the caller maps an
 * access key id to candidate secrets.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { AppError } from '../../core/errors.ts'
import { S3Error } from './xml.ts'

export const ALGORITHM = 'AWS4-HMAC-SHA256'
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
export const MAX_SKEW_MS = 15 * 60 * 1000
export const PRESIGN_MAX_SECONDS = 604800

export type SignedRequest = {
  method: string
  /** Path exactly as received (percent-encoded), including any mount prefix. */
  rawPath: string
  /** Query string as received, without "?". */
  rawQuery: string
  /** All values of a header (lowercase name), in arrival order. */
  headerValues: (name: string) => string[]
  /** Lowercase names of the headers present. */
  headerNames: () => string[]
}

/** A verified request: who signed it and what a streaming payload needs to keep verifying. */
export type Verified<T> = {
  owner: T
  accessKeyId: string
  signingKey: Buffer
  amzDate: string
  scope: string
  signature: string
  /** x-amz-content-sha256 as signed (a hex digest or a STREAMING-/UNSIGNED- mode). */
  payloadHash: string
  presigned: boolean
  /**
   * x-amz-* parameters of a presigned URL's (signed) query other than its
   * authentication, by lowercase name: S3 applies them as request headers.
   */
  hoisted: Map<string, string>
}

const sha256hex = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex')
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s).digest()

const denied = (code: string, message: string, status = 403) => new AppError(status, code, message)

/** AWS's URI encoding: everything but A-Z a-z 0-9 - _ . ~ is %XX (uppercase); '/' kept when asked. */
export function uriEncode(s: string, keepSlash = false): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b)
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw new AppError(400, 'InvalidURI', 'Couldn\'t parse the specified URI.')
  }
}

export const canonicalUri = (rawPath: string) => rawPath.split('/').map((seg) => uriEncode(decode(seg))).join('/') || '/'

/** Decoded query pairs in arrival order. */
export function queryPairs(rawQuery: string): Array<[string, string]> {
  if (!rawQuery) return []
  return rawQuery
    .split('&')
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=')
      return i < 0 ? [decode(p), ''] : [decode(p.slice(0, i)), decode(p.slice(i + 1))]
    })
}

function canonicalQuery(pairs: Array<[string, string]>, skip?: string): string {
  return pairs
    .filter(([k]) => k !== skip)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

function canonicalHeaders(req: SignedRequest, names: string[]): string {
  return names.map((n) => `${n}:${req.headerValues(n).map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`).join('')
}

const keyCache = new Map<string, Buffer>()
/** The derived signing key; cached per (secret, date, region) since it changes daily. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${sha256hex(secret)}/${date}/${region}/${service}`
  let k = keyCache.get(id)
  if (!k) {
    k = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request')
    if (keyCache.size > 1000) keyCache.clear()
    keyCache.set(id, k)
  }
  return k
}

export const stringToSign = (amzDate: string, scope: string, canonicalRequest: string) =>
  `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256hex(canonicalRequest)}`

export const hexHmac = (key: Buffer, s: string) => createHmac('sha256', key).update(s).digest('hex')

export function sameSignature(a: string, b: string): boolean {
  const ba = Buffer.from(a)
  const bb = Buffer.from(b)
  return ba.length === bb.length && timingSafeEqual(ba, bb)
}

/** "20240102T030405Z" → ms, or NaN. */
export function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN
}
export const toAmzDate = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')

type Parsed = { accessKeyId: string; date: string; region: string; service: string; signedHeaders: string[]; signature: string; amzDate: string }

function parseCredential(cred: string, malformed: (m: string) => AppError) {
  const parts = cred.split('/')
  if (parts.length !== 5 || parts[4] !== 'aws4_request') throw malformed('the Credential must be <key>/<date>/<region>/s3/aws4_request')
  const [accessKeyId, date, region, service] = parts
  if (service !== 's3') throw malformed(`the credential scope names service "${service}", expected "s3"`)
  if (!/^\d{8}$/.test(date)) throw malformed('the credential date must be YYYYMMDD')
  return { accessKeyId, date, region, service }
}

function parseHeaderAuth(req: SignedRequest, header: string): Parsed {
  const malformed = (m: string) => new AppError(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${m}.`)
  const rest = header.slice(ALGORITHM.length).trim()
  const fields = Object.fromEntries(
    rest.split(',').map((f) => {
      const i = f.indexOf('=')
      return [f.slice(0, i).trim(), f.slice(i + 1).trim()]
    }),
  )
  if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) throw malformed('it needs Credential, SignedHeaders and Signature')
  const amzDate = req.headerValues('x-amz-date')[0] ?? ''
  if (!amzDate) throw new AppError(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
  return { ...parseCredential(fields.Credential, malformed), signedHeaders: fields.SignedHeaders.toLowerCase().split(';'), signature: fields.Signature, amzDate }
}

function parseQueryAuth(q: Map<string, string>): Parsed & { expires: number } {
  const malformed = (m: string) => new AppError(400, 'AuthorizationQueryParametersError', `Query-string authentication is malformed; ${m}.`)
  if (q.get('X-Amz-Algorithm') !== ALGORITHM) throw malformed(`X-Amz-Algorithm must be ${ALGORITHM}`)
  for (const k of ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'])
    if (!q.get(k)) throw malformed(`${k} is missing`)
  // compat(s3): AWS's own messages; 0 is well-formed and simply already expired.
  const raw = q.get('X-Amz-Expires')!
  if (!/^-?\d+$/.test(raw)) throw new AppError(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires should be a number')
  const expires = Number(raw)
  if (expires < 0) throw new AppError(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires must be non-negative')
  if (expires > PRESIGN_MAX_SECONDS)
    throw new AppError(400, 'AuthorizationQueryParametersError', `X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than ${PRESIGN_MAX_SECONDS} seconds`)
  return {
    ...parseCredential(q.get('X-Amz-Credential')!, malformed),
    signedHeaders: q.get('X-Amz-SignedHeaders')!.toLowerCase().split(';'),
    signature: q.get('X-Amz-Signature')!,
    amzDate: q.get('X-Amz-Date')!,
    expires,
  }
}

/** True when the request carries SigV4 credentials (header or query). */
export function hasSigV4(authorization: string | undefined, rawQuery: string): boolean {
  return authorization?.startsWith(ALGORITHM) || /(^|&)X-Amz-(Algorithm|Signature|Credential)=/i.test(rawQuery)
}

/** Query parameters that carry a presigned URL's authentication (lowercase), never hoisted as headers. */
const QUERY_AUTH = new Set(['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-signedheaders', 'x-amz-signature', 'x-amz-security-token', 'x-amz-content-sha256'])

function hoistedHeaders(pairs: Array<[string, string]>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of pairs) {
    const n = k.toLowerCase()
    if (n.startsWith('x-amz-') && !QUERY_AUTH.has(n) && !out.has(n)) out.set(n, v)
  }
  return out
}

/**
 * x-amz-* headers the signature does not cover. They change what S3 does
 * (x-amz-copy-source turns a PUT into a copy, x-amz-acl, x-amz-meta-*, ...),
 * so, as on AWS, a request carrying one is refused: a presigned URL or a
 * captured request cannot be bent into something its signer did not sign. A
 * presigned request may repeat a parameter of its signed query as a header
 * with the same value. x-amz-content-sha256 is exempt, as on AWS: it is bound
 * by the canonical request's last line (header auth) or not used (query auth).
 */
function unsignedHeaders(req: SignedRequest, signed: string[], hoisted: Map<string, string> | null): string[] {
  const set = new Set(signed)
  return req
    .headerNames()
    .filter((n) => n.startsWith('x-amz-') && n !== 'x-amz-content-sha256' && !set.has(n))
    .filter((n) => !(hoisted?.has(n) && req.headerValues(n).every((v) => v.trim() === hoisted.get(n)!.trim())))
    .sort()
}

/**
 * Verifies a SigV4 request. `secretsFor` lists the secrets the access key id may
 * sign with, each with its owner; the first that matches wins. Throws S3-coded
 * errors: InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed,
 * AccessDenied (expired presigned URL, unsigned x-amz-* headers), *Malformed /
 * *ParametersError.
 */
export function verify<T>(req: SignedRequest, secretsFor: (accessKeyId: string) => Array<{ secret: string; owner: T }>, now: number): Verified<T> {
  const pairs = queryPairs(req.rawQuery)
  const auth = req.headerValues('authorization')[0]
  const presigned = !auth?.startsWith(ALGORITHM)
  let p: Parsed
  let payloadHash: string
  if (!presigned) {
    p = parseHeaderAuth(req, auth!)
    const t = parseAmzDate(p.amzDate)
    if (Number.isNaN(t)) throw new AppError(403, 'AccessDenied', 'x-amz-date must look like 20240102T030405Z')
    if (Math.abs(now - t) > MAX_SKEW_MS) throw denied('RequestTimeTooSkewed', 'The difference between the request time and the server\'s time is too large.')
    payloadHash = req.headerValues('x-amz-content-sha256')[0] ?? (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE' ? EMPTY_SHA256 : '')
    if (!payloadHash) throw new AppError(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256')
  } else {
    const q = new Map(pairs)
    const qp = parseQueryAuth(q)
    p = qp
    const t = parseAmzDate(p.amzDate)
    if (Number.isNaN(t)) throw new AppError(400, 'AuthorizationQueryParametersError', 'X-Amz-Date must look like 20240102T030405Z')
    if (t - now > MAX_SKEW_MS) throw denied('AccessDenied', 'Request is not valid yet')
    if (now >= t + qp.expires * 1000)
      throw new S3Error(403, 'AccessDenied', 'Request has expired', { 'X-Amz-Expires': String(qp.expires), Expires: new Date(t + qp.expires * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), ServerTime: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z') })
    // Presigners spell the hoisted header either way (X-Amz-Content-Sha256, x-amz-content-sha256).
    payloadHash = pairs.find(([k]) => k.toLowerCase() === 'x-amz-content-sha256')?.[1] ?? 'UNSIGNED-PAYLOAD'
  }
  if (p.amzDate.slice(0, 8) !== p.date) throw denied('SignatureDoesNotMatch', 'The credential date does not match the request date.')
  if (!p.signedHeaders.includes('host')) throw denied('AccessDenied', 'The host header must be signed.')
  const hoisted = presigned ? hoistedHeaders(pairs) : new Map<string, string>()
  const unsigned = unsignedHeaders(req, p.signedHeaders, presigned ? hoisted : null)
  if (unsigned.length)
    throw new S3Error(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}. Sign every x-amz-* header you send.`, { HeadersNotSigned: unsigned.join(', ') })
  const candidates = secretsFor(p.accessKeyId)
  if (!candidates.length) throw denied('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')

  const scope = `${p.date}/${p.region}/${p.service}/aws4_request`
  const canonical = [
    req.method,
    canonicalUri(req.rawPath),
    canonicalQuery(pairs, presigned ? 'X-Amz-Signature' : undefined),
    canonicalHeaders(req, p.signedHeaders),
    p.signedHeaders.join(';'),
    payloadHash,
  ].join('\n')
  const sts = stringToSign(p.amzDate, scope, canonical)
  for (const c of candidates) {
    const key = signingKey(c.secret, p.date, p.region, p.service)
    if (sameSignature(hexHmac(key, sts), p.signature.toLowerCase()))
      return { owner: c.owner, accessKeyId: p.accessKeyId, signingKey: key, amzDate: p.amzDate, scope, signature: p.signature.toLowerCase(), payloadHash, presigned, hoisted }
  }
  throw denied('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.')
}

/** A presigned URL (query auth, UNSIGNED-PAYLOAD, only "host" signed) for `method` on `url`. */
export function presignUrl(o: { method: string; url: string; accessKeyId: string; secret: string; region: string; expires: number; now: number }): string {
  const u = new URL(o.url)
  const amzDate = toAmzDate(o.now)
  const date = amzDate.slice(0, 8)
  const scope = `${date}/${o.region}/s3/aws4_request`
  const params: Array<[string, string]> = [
    ...queryPairs(u.search.slice(1)),
    ['X-Amz-Algorithm', ALGORITHM],
    ['X-Amz-Credential', `${o.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(o.expires)],
    ['X-Amz-SignedHeaders', 'host'],
  ]
  const canonical = [o.method, canonicalUri(u.pathname), canonicalQuery(params), `host:${u.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n')
  const signature = hexHmac(signingKey(o.secret, date, o.region, 's3'), stringToSign(amzDate, scope, canonical))
  const query = [...params, ['X-Amz-Signature', signature]].map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&')
  return `${u.origin}${u.pathname}?${query}`
}
