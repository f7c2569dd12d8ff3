/**
 * SigV4 POST policies (browser form uploads): the signature over the base64
 * policy document, its expiration, and its conditions against the form's
 * fields, with S3's answers when they do not hold. Pure: the caller supplies
 * the secrets and the clock.
 */
import { AppError } from '../../core/errors.ts'
import { ALGORITHM, hexHmac, parseAmzDate, sameSignature, signingKey } from './sigv4.ts'

/** A form's fields before the file, by lowercase name (first value wins). */
export type FormFields = Map<string, string>

type Condition = { op: 'eq' | 'starts-with'; field: string; value: string; text: string } | { op: 'range'; min: number; max: number; text: string }
export type Policy = { conditions: Condition[]; lengthRange: { min: number; max: number } | null }

const denied = (m: string) => new AppError(403, 'AccessDenied', m)
const invalidPolicy = (m: string) => new AppError(400, 'InvalidPolicyDocument', `Invalid Policy: ${m}`)
const failed = (c: Condition) => denied(`Invalid according to Policy: Policy Condition failed: ${c.text}`)

/** Fields S3 never asks a policy to cover. */
const UNCOVERED = new Set(['x-amz-signature', 'file', 'policy'])

function parseConditions(raw: unknown): Condition[] {
  if (!Array.isArray(raw)) throw invalidPolicy('"conditions" must be an array')
  return raw.map((c): Condition => {
    const text = JSON.stringify(c)
    if (Array.isArray(c)) {
      const [op, a, b] = c as unknown[]
      const name = String(op).toLowerCase()
      if (name === 'content-length-range') {
        const min = Number(a)
        const max = Number(b)
        if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) throw invalidPolicy(`bad content-length-range ${text}`)
        return { op: 'range', min, max, text }
      }
      if ((name !== 'eq' && name !== 'starts-with') || typeof a !== 'string' || !a.startsWith('$') || typeof b !== 'string') throw invalidPolicy(`unsupported condition ${text}`)
      return { op: name, field: a.slice(1).toLowerCase(), value: b, text }
    }
    if (c && typeof c === 'object' && Object.keys(c).length === 1) {
      const [k, v] = Object.entries(c)[0]
      if (typeof v !== 'string') throw invalidPolicy(`condition values must be strings: ${text}`)
      return { op: 'eq', field: k.toLowerCase(), value: v, text: JSON.stringify(['eq', `$${k}`, v]) }
    }
    throw invalidPolicy(`unsupported condition ${text}`)
  })
}

/**
 * Verifies a POST form's signature and policy. `secretsFor` maps the
 * credential's access key id to candidate secrets, as for SigV4. Returns the
 * signer and the policy; the caller checks the file's length against it.
 */
export function verifyPostPolicy<T>(fields: FormFields, bucket: string, secretsFor: (accessKeyId: string) => Array<{ secret: string; owner: T }>, now: number): { owner: T; policy: Policy } {
  if (fields.has('awsaccesskeyid') || fields.has('signature')) throw new AppError(400, 'InvalidRequest', 'Signature Version 2 POST forms are not supported; sign the policy with AWS4-HMAC-SHA256.')
  const encoded = fields.get('policy')
  if (encoded === undefined) throw denied('Bucket POST must carry a signed policy: anonymous uploads are not allowed.')
  for (const f of ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature'])
    if (!fields.get(f)) throw new AppError(400, 'InvalidArgument', `Bucket POST must contain a field named '${f}'.`)
  if (fields.get('x-amz-algorithm') !== ALGORITHM) throw new AppError(400, 'InvalidArgument', `x-amz-algorithm must be ${ALGORITHM}`)
  const cred = fields.get('x-amz-credential')!.split('/')
  if (cred.length !== 5 || cred[3] !== 's3' || cred[4] !== 'aws4_request' || !/^\d{8}$/.test(cred[1]))
    throw new AppError(400, 'InvalidArgument', 'x-amz-credential must be <key>/<date>/<region>/s3/aws4_request')
  const [accessKeyId, date, region] = cred
  const amzDate = fields.get('x-amz-date')!
  if (Number.isNaN(parseAmzDate(amzDate)) || amzDate.slice(0, 8) !== date) throw new AppError(400, 'InvalidArgument', 'x-amz-date must look like 20240102T030405Z and match the credential date')

  const candidates = secretsFor(accessKeyId)
  if (!candidates.length) throw new AppError(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')
  const signature = fields.get('x-amz-signature')!.toLowerCase()
  const owner = candidates.find((c) => sameSignature(hexHmac(signingKey(c.secret, date, region, 's3'), encoded), signature))?.owner
  if (owner === undefined) throw new AppError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.')

  let doc: { expiration?: unknown; conditions?: unknown }
  try {
    doc = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))
  } catch {
    throw invalidPolicy('the policy is not base64-encoded JSON')
  }
  const expiration = typeof doc.expiration === 'string' ? Date.parse(doc.expiration) : NaN
  if (Number.isNaN(expiration)) throw invalidPolicy('"expiration" must be an ISO 8601 date')
  if (now >= expiration) throw denied('Invalid according to Policy: Policy expired.')
  const conditions = parseConditions(doc.conditions)

  const value = (name: string) => (name === 'bucket' ? bucket : (fields.get(name) ?? ''))
  const covered = new Set<string>()
  let lengthRange: Policy['lengthRange'] = null
  for (const c of conditions) {
    if (c.op === 'range') {
      lengthRange = { min: c.min, max: c.max }
      continue
    }
    covered.add(c.field)
    const v = value(c.field)
    if (c.op === 'eq' ? v !== c.value : !v.startsWith(c.value)) throw failed(c)
  }
  const extra = [...fields.keys()].filter((k) => !UNCOVERED.has(k) && !k.startsWith('x-ignore-') && !covered.has(k))
  if (extra.length) throw denied(`Invalid according to Policy: Extra input fields: ${extra.join(', ')}`)
  return { owner, policy: { conditions, lengthRange } }
}
