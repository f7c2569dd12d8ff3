/**
 * Who a storage request comes from: "Authorization: Bearer <key>" (bucket key or
 * master key), SigV4 (header or presigned query), or nobody. Shared by the JSON
 * API, the S3 API and MCP.
 */
import { AppError } from '../core/errors.ts'
import type { StorageRequest } from './http-request.ts'
import type { StorageService } from './service.ts'
import { hasSigV4, verify, type Verified } from './s3/sigv4.ts'
import type { StorageCaller } from './types.ts'

export type Authenticated = { caller: StorageCaller; sig?: Verified<StorageCaller> }

export function callerForBearer(s: StorageService, key: string): StorageCaller {
  const c = s.callerForKey(key)
  if (!c) throw new AppError(403, 'InvalidAccessKeyId', 'The key you provided is not valid.')
  return c
}

export function authenticate(req: StorageRequest, s: StorageService, now: number): Authenticated {
  const auth = req.header('authorization')
  const bearer = auth && /^Bearer\s+(\S+)$/i.exec(auth)?.[1]
  if (bearer) return { caller: callerForBearer(s, bearer) }
  if (auth?.startsWith('AWS ')) throw new AppError(400, 'InvalidRequest', 'Signature Version 2 is not supported; sign requests with AWS4-HMAC-SHA256.')
  if (hasSigV4(auth, req.rawQuery)) {
    const sig = verify({ method: req.method, rawPath: req.rawPath, rawQuery: req.rawQuery, headerValues: req.headerValues, headerNames: req.headerNames }, s.secretsFor, now)
    return { caller: sig.owner, sig }
  }
  if (auth) throw new AppError(400, 'InvalidArgument', 'Unsupported Authorization type')
  return { caller: { kind: 'anonymous' } }
}
