/** Wrenn surface (seed 003): /v1/api-keys, /v1/users/search, /v1/teams*. */
import { Hono } from 'hono'
import type { Services } from '../../http/services.ts'
import type { AppEnv } from '../../http/types.ts'
import { WRENN_POLICY as W } from '../access.ts'
import { readJson, toApiKey, toMember, toTeam, toTeamWithRole } from '../wire.ts'

export function teamRoutesV1(s: Services) {
  const { keys, teams } = s.identity
  const r = new Hono<AppEnv>()

  r.post('/api-keys', async (c) => c.json(toApiKey(await keys.create(c.get('principal'), await readJson(c))), 201))
  r.get('/api-keys', async (c) => c.json((await keys.list(c.get('principal'))).map(toApiKey)))
  r.delete('/api-keys/:id', async (c) => {
    await keys.remove(c.get('principal'), c.req.param('id'))
    return c.body(null, 204)
  })

  r.get('/users/search', async (c) => {
    const rows = await teams.searchUsers(c.get('principal'), c.req.query('email'))
    return c.json(rows.map((u) => ({ user_id: u.id, email: u.email })))
  })

  r.get('/teams', async (c) => c.json((await teams.list(c.get('principal'))).map(toTeamWithRole)))
  r.post('/teams', async (c) => c.json(toTeamWithRole(await teams.create(c.get('principal'), await readJson(c))), 201))

  r.get('/teams/:id', async (c) => {
    const t = await teams.get(c.get('principal'), c.req.param('id'), W)
    return c.json({ team: toTeam(t.team), members: t.members.map(toMember) })
  })
  r.patch('/teams/:id', async (c) => {
    await teams.rename(c.get('principal'), c.req.param('id'), await readJson(c), W)
    return c.body(null, 204)
  })
  r.delete('/teams/:id', async (c) => {
    await teams.remove(c.get('principal'), c.req.param('id'), W)
    return c.body(null, 204)
  })

  r.get('/teams/:id/members', async (c) => c.json((await teams.members(c.get('principal'), c.req.param('id'), W)).map(toMember)))
  r.post('/teams/:id/members', async (c) => {
    const b = await readJson(c)
    const m = await teams.addMember(c.get('principal'), c.req.param('id'), { email: b.email ?? '' }, W)
    return c.json(toMember(m), 201)
  })
  r.patch('/teams/:id/members/:uid', async (c) => {
    await teams.setMemberRole(c.get('principal'), c.req.param('id'), c.req.param('uid'), await readJson(c), W)
    return c.body(null, 204)
  })
  r.delete('/teams/:id/members/:uid', async (c) => {
    await teams.removeMember(c.get('principal'), c.req.param('id'), c.req.param('uid'), W)
    return c.body(null, 204)
  })
  r.post('/teams/:id/leave', async (c) => {
    await teams.leave(c.get('principal'), c.req.param('id'), W)
    return c.body(null, 204)
  })

  return r
}
