/**
 * A tiny GitHub (Enterprise-style) OAuth server on loopback for tests: the
 * authorize page approves at once for `nextUser`, codes are single-use, and the
 * REST API lives under /api/v3 like GitHub Enterprise Server.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'

export type GithubUser = { id: number; login: string; name: string; emails: Array<{ email: string; primary: boolean; verified: boolean }> }

export async function startFakeGithub(client: { id: string; secret: string }) {
  const codes = new Map<string, { user: GithubUser; redirectUri: string }>()
  const tokens = new Map<string, GithubUser>()
  const state = { nextUser: null as GithubUser | null, tokenRequests: 0 }

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x')
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(JSON.stringify(body))
    }
    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const redirect = new URL(url.searchParams.get('redirect_uri')!)
      if (url.searchParams.get('client_id') !== client.id || !state.nextUser) return send(400, { error: 'bad client' })
      const code = randomBytes(8).toString('hex')
      codes.set(code, { user: state.nextUser, redirectUri: redirect.toString() })
      redirect.searchParams.set('code', code)
      redirect.searchParams.set('state', url.searchParams.get('state') ?? '')
      res.writeHead(302, { location: redirect.toString() })
      return res.end()
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      state.tokenRequests++
      let raw = ''
      for await (const chunk of req) raw += chunk
      const form = new URLSearchParams(raw)
      const grant = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      if (form.get('client_id') !== client.id || form.get('client_secret') !== client.secret || !grant || grant.redirectUri !== form.get('redirect_uri'))
        return send(200, { error: 'bad_verification_code' }) // GitHub answers 200 with an error field
      const token = 'gho_' + randomBytes(12).toString('hex')
      tokens.set(token, grant.user)
      return send(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' })
    }
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (url.pathname === '/api/v3/user') return user ? send(200, { id: user.id, login: user.login, name: user.name }) : send(401, { message: 'Bad credentials' })
    if (url.pathname === '/api/v3/user/emails') return user ? send(200, user.emails) : send(401, { message: 'Bad credentials' })
    send(404, { message: 'Not Found' })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, state, close: () => new Promise<void>((r) => server.close(() => r())) }
}
