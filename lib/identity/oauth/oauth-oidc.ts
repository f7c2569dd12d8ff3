/**
 * A generic OpenID Connect provider through openid-client: discovery from the
 * issuer, authorization code with PKCE, state and nonce checked by the library,
 * ID token validated against the issuer's keys.
 */
import type * as Oidc from 'openid-client'
import type { Config } from '../../core/config/index.ts'
import type { Logger } from '../../core/logger.ts'
import type { OAuthProvider } from './oauth-provider.ts'

export function oidcProvider(cfg: Config['identity']['oauth']['oidc'], log: Logger): OAuthProvider | null {
  if (!cfg.issuer || !cfg.clientId) return null
  // openid-client is loaded with the provider's first use, not at start-up.
  let lib: Promise<typeof Oidc> | undefined
  let oidc: typeof Oidc
  let discovered: Promise<Oidc.Configuration> | undefined
  // Discovery is lazy and retried after a failure, so a provider that is down at start-up does not stay broken.
  const config = () =>
    (discovered ??= (lib ??= import('openid-client'))
      .then((m) => (oidc = m).discovery(new URL(cfg.issuer), cfg.clientId, cfg.clientSecret || undefined, undefined, cfg.allowInsecure ? { execute: [m.allowInsecureRequests] } : undefined))
      .catch((err) => {
        discovered = undefined
        log.warn('oidc discovery failed', { issuer: cfg.issuer, err })
        throw err
      }))

  return {
    name: 'oidc',
    async authorizeUrl(a) {
      const c = await config()
      return oidc.buildAuthorizationUrl(c, {
        redirect_uri: a.redirectUri,
        scope: cfg.scopes,
        state: a.state,
        nonce: a.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(a.codeVerifier),
        code_challenge_method: 'S256',
      })
    },
    async exchange(a) {
      const c = await config()
      const tokens = await oidc.authorizationCodeGrant(c, a.callbackUrl, { pkceCodeVerifier: a.codeVerifier, expectedState: a.state, expectedNonce: a.nonce, idTokenExpected: true })
      const claims = tokens.claims()!
      let info: Record<string, unknown> = claims
      if (!claims.email && tokens.access_token) info = { ...claims, ...(await oidc.fetchUserInfo(c, tokens.access_token, claims.sub)) }
      const email = typeof info.email === 'string' && info.email_verified !== false ? info.email : null
      const name = typeof info.name === 'string' ? info.name : typeof info.preferred_username === 'string' ? info.preferred_username : ''
      return { subject: claims.sub, email, name }
    },
  }
}
