/**
 * Gateway errors carry LiteLLM's error `type` and `param` besides the status, so
 * each surface renders them in its own envelope: OpenAI's
 * {"error":{"message","type","param","code"}} or Anthropic's
 * {"type":"error","error":{"type","message"}}.
 */
import { AppError, isAppError } from '../core/errors.ts'

export class GatewayError extends AppError {
  readonly type: string
  readonly param: string | null
  constructor(status: number, type: string, message: string, o: { param?: string | null; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(status, type, message, { headers: o.headers, cause: o.cause })
    this.type = type
    this.param = o.param ?? null
  }
}

export const badRequest = (message: string, param: string | null = null) => new GatewayError(400, 'invalid_request_error', message, { param })
export const authError = (message: string) => new GatewayError(401, 'auth_error', message)
export const notAllowed = (message: string) => new GatewayError(403, 'permission_error', message)
export const keyNotFound = (message = 'key not found') => new GatewayError(404, 'not_found_error', message)
export const budgetExceeded = (message: string) => new GatewayError(400, 'budget_exceeded', message)
export const rateLimited = (message: string, retryAfterSec: number) =>
  new GatewayError(429, 'rate_limit_error', message, { headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSec))) } })

/** An upstream answered with an error: its status is kept, its message shown when it gave one. */
export class UpstreamError extends GatewayError {
  readonly retryAfterMs: number | null
  constructor(status: number, type: string, message: string, retryAfterMs: number | null = null, cause?: unknown) {
    // A 429 tells the client when to come back, whether it is the upstream's or ours (all deployments busy or cooling).
    super(status, type, message, { cause, headers: status === 429 && retryAfterMs !== null ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } : undefined })
    this.retryAfterMs = retryAfterMs
  }
}

const STATUS_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'auth_error', 403: 'permission_error', 404: 'not_found_error', 408: 'timeout', 413: 'invalid_request_error', 422: 'invalid_request_error', 429: 'rate_limit_error', 529: 'overloaded_error' }
export const typeForStatus = (status: number) => STATUS_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error')

/** The gateway view of any thrown error; unknown errors become a generic 500 (the caller logs the original). */
export function asGatewayError(e: unknown): GatewayError | null {
  if (e instanceof GatewayError) return e
  if (isAppError(e)) return new GatewayError(e.status, typeForStatus(e.status), e.message, { headers: e.headers })
  if (e instanceof SyntaxError) return badRequest('request body is not valid JSON')
  return null
}

/** compat(litellm): OpenAI's envelope with `code` the HTTP status as a string. */
export const openaiErrorBody = (e: GatewayError) => ({ error: { message: e.message, type: e.type, param: e.param, code: String(e.status) } })

const ANTHROPIC_TYPES: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 529: 'overloaded_error' }
/** Anthropic's envelope; LiteLLM-only types (budget_exceeded) are kept, the rest use Anthropic's names. */
export const anthropicErrorBody = (e: GatewayError) => ({
  type: 'error',
  error: { type: e.type === 'budget_exceeded' ? e.type : (ANTHROPIC_TYPES[e.status] ?? (e.status >= 500 ? 'api_error' : 'invalid_request_error')), message: e.message },
})
