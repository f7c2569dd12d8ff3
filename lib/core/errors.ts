/** One error type for every layer. Surfaces render it in their own envelope. */
export class AppError extends Error {
  readonly status: number
  readonly code: string
  /** Extra response headers (e.g. Retry-After) a surface should send. */
  readonly headers?: Record<string, string>

  constructor(status: number, code: string, message: string, opts?: { cause?: unknown; headers?: Record<string, string> }) {
    super(message, { cause: opts?.cause })
    this.name = 'AppError'
    this.status = status
    this.code = code
    this.headers = opts?.headers
  }
}

export const invalid = (message: string, code = 'invalid_request') => new AppError(400, code, message)
export const unauthorized = (message = 'authentication required', code = 'unauthorized') => new AppError(401, code, message)
export const forbidden = (message = 'forbidden', code = 'forbidden') => new AppError(403, code, message)
export const notFound = (message = 'not found', code = 'not_found') => new AppError(404, code, message)
export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message)
export const tooLarge = (message = 'request body too large', code = 'payload_too_large') => new AppError(413, code, message)
export const tooMany = (retryAfterSec: number, message = 'too many requests', code = 'rate_limited') =>
  new AppError(429, code, message, { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSec))) } })
export const unavailable = (message = 'service unavailable', code = 'unavailable') => new AppError(503, code, message)

export const isAppError = (e: unknown): e is AppError => e instanceof AppError
