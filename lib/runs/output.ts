/** What a receipt keeps of a step's output: credential-looking tokens redacted, then the last 64,000 characters. */
export const OUTPUT_CHARS = 64_000
const MARK = '[redacted]'

// Well-known token shapes, URL credentials, Authorization headers and key=value secrets.
const PATTERNS: Array<[RegExp, string]> = [
  [/\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,})/g, MARK],
  [/\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}/g, MARK],
  [/\b(?:xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|(?:wrn|cbx|cbt)_[A-Za-z0-9]{16,})/g, MARK],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, MARK],
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/:@]+:[^\s/@]+@/gi, `$1${MARK}@`],
  [/(\bauthorization:\s*(?:bearer|basic|token)\s+)\S+/gi, `$1${MARK}`],
  [/(\b[A-Za-z0-9_]*(?:api[_-]?key|token|secret|password|passwd)["']?\s*[=:]\s*["']?)[^\s"']{6,}/gi, `$1${MARK}`],
]

export function redact(s: string): string {
  for (const [re, to] of PATTERNS) s = s.replace(re, to)
  return s
}

export const keepTail = (s: string, n = OUTPUT_CHARS) => (s.length > n ? s.slice(s.length - n) : s)

export const receiptText = (b: Buffer | string) => keepTail(redact(typeof b === 'string' ? b : b.toString('utf8')))
