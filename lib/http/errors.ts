/**
 * Error rendering per surface. Every surface's errors pass through renderError,
 * which picks the envelope by path prefix; an unknown error is logged and becomes
 * a generic 500 whose message never echoes internals.
 */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { HTTPException } from 'hono/http-exception'
import { AppError, isAppError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { requestIdOf } from './request-context.ts'
import type { AppEnv } from './types.ts'

export type ErrorRenderer = (c: Context<AppEnv>, e: AppError) => Response

/** Wrenn (seed 003): {"error":{"code","message","request_id"}}. */
export const wrennError: ErrorRenderer = (c, e) =>
  c.json({ error: { code: e.code, message: e.message, request_id: requestIdOf(c) } }, e.status as ContentfulStatusCode)

/** Workspace API (seed 001), cloudbox (002), claudebox and hybrids3 (000): {"error": message}. */
export const plainError: ErrorRenderer = (c, e) => c.json({ error: e.message, code: e.code }, e.status as ContentfulStatusCode)

export function toAppError(err: unknown): AppError | null {
  if (isAppError(err)) return err
  if (err instanceof HTTPException) {
    if (err.status === 413) return new AppError(413, 'payload_too_large', 'request body too large')
    return new AppError(err.status, 'http_error', err.message || 'request failed')
  }
  if (err instanceof SyntaxError && /JSON/i.test(err.message)) return new AppError(400, 'invalid_json', 'request body is not valid JSON')
  return null
}

export type SurfaceErrors = Array<{ prefix: string; render: ErrorRenderer }>

/** Builds the one error handler of the app: the longest matching prefix picks the envelope. */
export function createErrorHandler(surfaces: SurfaceErrors, log: Logger) {
  const sorted = [...surfaces].sort((a, b) => b.prefix.length - a.prefix.length)
  return (err: unknown, c: Context<AppEnv>) => renderError(c, err, sorted, log)
}

function renderError(c: Context<AppEnv>, err: unknown, renderers: SurfaceErrors, log: Logger): Response {
  let e = toAppError(err)
  if (!e) {
    ;(c.get('log') ?? log.child({ rid: requestIdOf(c) })).error('unhandled error', { err })
    e = new AppError(500, 'internal', 'internal server error')
  }
  const path = c.req.path
  const r = renderers.find((x) => path.startsWith(x.prefix))
  const res = (r?.render ?? wrennError)(c, e)
  for (const [k, v] of Object.entries(e.headers ?? {})) res.headers.set(k, v)
  return res
}
