/**
 * The S3 additional checksums (x-amz-checksum-*): computed while bytes stream
 * through, compared with what the client declared, stored with the object and
 * returned. CRC32 uses node:zlib; CRC32C and CRC64NVME come from the AWS SDK's
 * own checksum package so our values match the SDK's bit for bit.
 */
import { createHash, type Hash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { Crc32cJs, Crc64Nvme } from '@aws-sdk/checksums/crc'
import { AppError } from '../../core/errors.ts'

export const ALGORITHMS = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const
export type Algorithm = (typeof ALGORITHMS)[number]

export const isAlgorithm = (s: string | undefined | null): s is Algorithm => ALGORITHMS.includes(s as Algorithm)
/** Header name of an algorithm: CRC32 → x-amz-checksum-crc32. */
export const headerOf = (a: Algorithm) => `x-amz-checksum-${a.toLowerCase()}`
/** XML element of an algorithm: CRC32 → ChecksumCRC32. */
export const xmlNameOf = (a: Algorithm) => `Checksum${a}`
/** Raw digest length, to validate declared values. */
const DIGEST_BYTES: Record<Algorithm, number> = { CRC32: 4, CRC32C: 4, SHA1: 20, SHA256: 32, CRC64NVME: 8 }

export type Digester = { update: (b: Uint8Array) => void; digest: () => Promise<string> }

/** S3's answers when the body is not what the request said it is. */
export const contentMd5Mismatch = () => new AppError(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.')
export const sha256Mismatch = () => new AppError(400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.')

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

/** A streaming digester whose digest is the base64 value S3 uses on the wire. */
export function digester(a: Algorithm): Digester {
  switch (a) {
    case 'CRC32': {
      let v = 0
      return { update: (b) => void (v = crc32(b, v)), digest: async () => uint32(v).toString('base64') }
    }
    case 'SHA1':
    case 'SHA256': {
      const h: Hash = createHash(a === 'SHA1' ? 'sha1' : 'sha256')
      return { update: (b) => void h.update(b), digest: async () => h.digest('base64') }
    }
    case 'CRC32C':
    case 'CRC64NVME': {
      const c = a === 'CRC32C' ? new Crc32cJs() : new Crc64Nvme()
      return { update: (b) => c.update(b), digest: async () => Buffer.from(await c.digest()).toString('base64') }
    }
  }
}

/** True when `value` is a well-formed base64 digest for the algorithm. */
export function wellFormed(a: Algorithm, value: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return false
  return Buffer.from(value, 'base64').length === DIGEST_BYTES[a]
}

/**
 * The multipart "composite" checksum: the checksum of the concatenated raw part
 * checksums, suffixed with -<part count>.
 */
export async function composite(a: Algorithm, partValues: string[]): Promise<string> {
  const d = digester(a)
  for (const v of partValues) d.update(Buffer.from(v, 'base64'))
  return `${await d.digest()}-${partValues.length}`
}

/** Algorithms that S3 can combine into a FULL_OBJECT checksum for multipart uploads. */
export const fullObjectCapable = (a: Algorithm) => a === 'CRC32' || a === 'CRC32C' || a === 'CRC64NVME'
