/** compat(cloudbox 002): errors are {error: <code>, detail: <message>}. */
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ErrorRenderer } from '../http/errors.ts'

export const cloudboxError: ErrorRenderer = (c, e) => c.json({ error: e.code, detail: e.message }, e.status as ContentfulStatusCode)

/** The cloudbox API's paths under /api. */
export const CLOUDBOX_PREFIXES = ['/api/runs', '/api/computers', '/api/brief', '/api/c/']
