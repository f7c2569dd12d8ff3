/**
 * GitHub OAuth (authorization code). Base URLs are configurable so GitHub
 * Enterprise Server works: authorize/token under <baseUrl>/login/oauth, the REST
 * API at api.github.com for github.com or <baseUrl>/api/v3 otherwise.
 */
import type { Config } from '../../core/config/index.ts'
import type { OAuthProvider } from './oauth-provider.ts'

const TIMEOUT_MS = 10_000

export function githubProvider(cfg: Config['identity']['oauth']['github']): OAuthProvider | null {
  if (!cfg.clientId || !cfg.clientSecret) return null
  const base = cfg.baseUrl.replace(/\/+$/, '')
  const api = (cfg.apiUrl || (new URL(base).hostname === 'github.com' ? 'https://api.github.com' : `${base}/api/v3`)).replace(/\/+$/, '')

  const getJson = async (path: string, token: string) => {
    const r = await fetch(api + path, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'nestbox' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    if (!r.ok) throw new Error(`github ${path} answered ${r.status}`)
    return r.json()
  }

  return {
    name: 'github',
    async authorizeUrl(a) {
      const u = new URL(`${base}/login/oauth/authorize`)
      u.search = new URLSearchParams({ client_id: cfg.clientId, redirect_uri: a.redirectUri, scope: 'read:user user:email', state: a.state, allow_signup: 'true' }).toString()
      return u
    },
    async exchange(a) {
      const code = a.callbackUrl.searchParams.get('code') ?? ''
      const r = await fetch(`${base}/login/oauth/access_token`, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'nestbox' },
        body: new URLSearchParams({ client_id: cfg.clientId, client_secret: cfg.clientSecret, code, redirect_uri: a.redirectUri }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      const tok = (await r.json().catch(() => ({}))) as { access_token?: string; error?: string }
      if (!r.ok || !tok.access_token) throw new Error(`github token exchange failed: ${tok.error ?? r.status}`)
      const user = (await getJson('/user', tok.access_token)) as { id?: number; login?: string; name?: string | null }
      if (user.id == null) throw new Error('github /user has no id')
      const emails = (await getJson('/user/emails', tok.access_token)) as Array<{ email: string; primary: boolean; verified: boolean }>
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary && e.verified) ?? emails.find((e) => e.verified) : undefined
      return { subject: String(user.id), email: primary?.email ?? null, name: user.name || user.login || '' }
    },
  }
}
