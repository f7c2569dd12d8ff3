/** What a login provider (GitHub, generic OIDC) does for the OAuth service. */
export type ProviderProfile = {
  /** The provider's stable id for the user. */
  subject: string
  /** A verified email, or null when the provider gave none. */
  email: string | null
  name: string
}

export type AuthorizeInput = { state: string; redirectUri: string; codeVerifier: string; nonce: string }
export type ExchangeInput = AuthorizeInput & { callbackUrl: URL }

export type OAuthProvider = {
  name: string
  authorizeUrl: (a: AuthorizeInput) => Promise<URL>
  /** Exchanges the code in `callbackUrl` and returns the user's profile; throws on any failure. */
  exchange: (a: ExchangeInput) => Promise<ProviderProfile>
}
