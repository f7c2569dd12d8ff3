/** S3 object tags: the limits and characters S3 allows, and the x-amz-tagging header's encoding. */
import { AppError } from '../core/errors.ts'

/** Tags in the order given. */
export type Tags = Array<[string, string]>

const MAX_TAGS = 10
const ALLOWED = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u
const invalidTag = (m: string) => new AppError(400, 'InvalidTag', m)

/** Checks a tag set against S3's rules; returns it unchanged. */
export function checkTags(tags: Tags): Tags {
  if (tags.length > MAX_TAGS) throw new AppError(400, 'BadRequest', `Object tags cannot be greater than ${MAX_TAGS}`)
  const seen = new Set<string>()
  for (const [k, v] of tags) {
    const klen = [...k].length
    if (klen < 1 || klen > 128) throw invalidTag('The TagKey you have provided is invalid: a tag key is 1 to 128 characters')
    if ([...v].length > 256) throw invalidTag('The TagValue you have provided is invalid: a tag value is at most 256 characters')
    if (!ALLOWED.test(k) || !ALLOWED.test(v)) throw invalidTag(`The tag ${JSON.stringify(k)} contains characters S3 does not allow (letters, digits, spaces and + - = . _ : / @)`)
    if (k.toLowerCase().startsWith('aws:')) throw invalidTag('Your TagKey cannot be prefixed with aws:')
    if (seen.has(k)) throw invalidTag('Cannot provide multiple Tags with the same key')
    seen.add(k)
  }
  return tags
}

/** x-amz-tagging: "k1=v1&k2=v2", URL query encoded. */
export function parseTaggingHeader(v: string): Tags {
  if (!v) return []
  return checkTags([...new URLSearchParams(v)])
}

export const parseStoredTags = (json: string): Tags => JSON.parse(json) as Tags
