import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { startTestNestbox, type TestNestbox } from '../harness.ts'
import { addMember, adminSession, call, type Caller } from '../capsules/fixtures.ts'
import { openStream } from './sse.ts'

let nb: TestNestbox
let admin: Caller
let files: Server
let filesUrl = ''
const SET = { 'events.builds.allowPrivateUrls': true }

test.before(async () => {
  files = createServer((req, res) => (req.url === '/data.txt' ? res.end('fetched by nestbox\n') : res.writeHead(404).end()))
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r))
  filesUrl = `http://127.0.0.1:${(files.address() as { port: number }).port}`
  nb = await startTestNestbox({ set: SET })
  admin = await adminSession(nb)
})
test.after(async () => {
  await nb.close()
  files.close()
})

const submit = (body: unknown, who: Caller = admin) => call(nb, who, '/v1/admin/builds', { method: 'POST', json: body })
const get = async (id: string) => (await call(nb, admin, `/v1/admin/builds/${id}`)).json()
async function until(id: string, pred: (b: any) => boolean, what: string, ms = 60_000) {
  const t0 = Date.now()
  for (;;) {
    const b = await get(id)
    if (pred(b)) return b
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(b)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
const templates = async () => (await (await call(nb, admin, '/v1/admin/templates')).json()) as Array<{ name: string; team_id: string | null }>
const capsuleGone = async (id: string) => {
  const r = await call(nb, admin, `/v1/admin/capsules/${id}`)
  return r.status === 404 || ['stopped'].includes((await r.json()).status)
}

test('a build runs its recipe in a capsule, streams its logs, and becomes a platform template another team starts capsules from', async () => {
  const es = openStream(nb.url + '/v1/admin/events/stream?types=build.*', { cookie: admin.headers.cookie, types: ['build.queued', 'build.running', 'build.step', 'build.log', 'build.success'] })
  await new Promise((r) => es.es.addEventListener('open', r, { once: true }))
  const r = await submit({
    name: 'tools-v1',
    base_template: 'minimal',
    recipe: ['ENV GREETING=hello', 'WORKDIR /opt/app', 'RUN echo "$GREETING" > greeting.txt && echo built $(pwd)', `ADD ${filesUrl}/data.txt /opt/app/data/data.txt`, 'RUN --timeout=30s test -s data/data.txt'],
    healthcheck: '--interval=100ms --retries=5 test -f /opt/app/greeting.txt',
  })
  assert.is(r.status, 202, await r.clone().text())
  const queued = await r.json()
  assert.match(queued.id, /^bld-[0-9a-f]{16}$/)
  assert.equal([queued.status, queued.total_steps, queued.current_step], ['queued', 5, 0])
  const done = await until(queued.id, (b) => !['queued', 'running'].includes(b.status), 'the build to finish')
  assert.is(done.status, 'success', JSON.stringify(done))
  assert.is(done.template, 'tools-v1')
  assert.equal(done.logs.map((l: { step: unknown; status: string }) => [l.step, l.status]), [[1, 'success'], [2, 'success'], [3, 'success'], [4, 'success'], [5, 'success'], ['healthcheck', 'success']])
  assert.match(done.logs[2].output, /built \/opt\/app/)
  assert.is(done.logs[2].exit_code, 0)
  assert.ok(done.logs.every((l: { duration_ms: number; started_at: string; finished_at: string }) => l.duration_ms >= 0 && l.started_at && l.finished_at))
  assert.ok(done.started_at && done.completed_at && done.duration_ms >= 0)
  assert.ok(await capsuleGone(done.sandbox_id), 'the build capsule is gone')
  // a platform template: another team starts a capsule from it and finds the files
  const tpl = (await templates()).find((t) => t.name === 'tools-v1')!
  assert.is(tpl.team_id, null)
  const other = await addMember(nb, 'owner')
  const who: Caller = { name: 'other team', headers: { 'x-api-key': other.key } }
  const c = await (await call(nb, who, '/v1/capsules', { method: 'POST', json: { template: 'tools-v1' } })).json()
  assert.is(c.template, 'tools-v1')
  const ex = await (await call(nb, who, `/v1/capsules/${c.id}/exec`, { method: 'POST', json: { cmd: 'cat /opt/app/greeting.txt /opt/app/data/data.txt' } })).json()
  assert.is(ex.stdout, 'hello\nfetched by nestbox\n', JSON.stringify(ex))
  // its events
  await es.waitFor((g) => g.some((e) => e.type === 'build.success'), 'build.success event')
  const types = es.got.filter((e) => e.data.build_id === queued.id).map((e) => e.type)
  for (const t of ['build.queued', 'build.running', 'build.step', 'build.log', 'build.success']) assert.ok(types.includes(t), `${t} in ${types}`)
  assert.ok(es.got.some((e) => e.type === 'build.log' && /built \/opt\/app/.test(String(e.data.data))))
  es.close()
  await call(nb, who, `/v1/capsules/${c.id}`, { method: 'DELETE' })
})

test('a failing step fails the build with the step and exit code; nothing is left behind', async () => {
  const r = await submit({ name: 'broken', recipe: ['RUN echo before', 'RUN echo oops >&2; exit 3', 'RUN echo never'] })
  const b = await until((await r.json()).id, (x) => !['queued', 'running'].includes(x.status), 'the build to fail')
  assert.is(b.status, 'failed')
  assert.match(b.error, /step 2 .*exited with code 3/)
  assert.equal(b.logs.map((l: { step: number; status: string }) => [l.step, l.status]), [[1, 'success'], [2, 'failed']])
  assert.match(b.logs[1].output, /oops/)
  assert.is(b.logs[1].exit_code, 3)
  assert.is(b.template, null)
  assert.ok(!(await templates()).some((t) => t.name === 'broken'))
  assert.ok(await capsuleGone(b.sandbox_id))
})

test('cancel: a running build stops, leaves no capsule and no template; finished builds cannot be cancelled', async () => {
  const r = await submit({ name: 'slow', recipe: ['RUN sleep 60'] })
  const id = (await r.json()).id
  const running = await until(id, (x) => x.status === 'running' && x.current_step === 1 && x.logs.length === 1, 'step 1 running')
  const t0 = Date.now()
  const c = await call(nb, admin, `/v1/admin/builds/${id}/cancel`, { method: 'POST' })
  assert.is(c.status, 204)
  assert.ok(Date.now() - t0 < 15_000)
  const b = await get(id)
  assert.is(b.status, 'cancelled')
  assert.ok(!(await templates()).some((t) => t.name === 'slow'))
  assert.ok(await capsuleGone(running.sandbox_id))
  assert.is((await call(nb, admin, `/v1/admin/builds/${id}/cancel`, { method: 'POST' })).status, 204)
  const ok = await submit({ name: 'quick', recipe: ['RUN true'] })
  const q = await until((await ok.json()).id, (x) => x.status === 'success', 'quick build')
  const again = await call(nb, admin, `/v1/admin/builds/${q.id}/cancel`, { method: 'POST' })
  assert.is(again.status, 409)
})

test('admins only; bad recipes and names are 400; a taken template name is 409', async () => {
  const owner: Caller = { name: 'team owner by key', headers: { 'x-api-key': nb.apiKey } }
  assert.is((await submit({ name: 'x', recipe: ['RUN true'] }, owner)).status, 403)
  assert.is((await call(nb, owner, '/v1/admin/builds')).status, 403)
  assert.is((await call(nb, { name: 'nobody', headers: { 'x-api-key': '' } }, '/v1/admin/builds')).status, 401)
  for (const [body, code] of [
    [{ name: 'x', recipe: [] }, 'invalid_recipe'],
    [{ name: 'x', recipe: ['FROM ubuntu'] }, 'invalid_recipe'],
    [{ name: 'x', recipe: ['COPY a /b'] }, 'invalid_recipe'],
    [{ name: 'x', recipe: ['RUN --timeout=forever sleep 1'] }, 'invalid_recipe'],
    [{ name: 'x', recipe: ['RUN true'], healthcheck: '--every=1s true' }, 'invalid_healthcheck'],
    [{ name: 'bad name!', recipe: ['RUN true'] }, 'invalid_name'],
    [{ name: 'x', base_template: 'nope', recipe: ['RUN true'] }, 'template_not_found'],
  ] as const) {
    const r = await submit(body)
    assert.is(r.status, 400, JSON.stringify(body))
    assert.is((await r.json()).error.code, code, JSON.stringify(body))
  }
  assert.is((await submit({ name: 'tools-v1', recipe: ['RUN true'] })).status, 409)
  assert.is((await call(nb, admin, '/v1/admin/builds/bld-0000000000000000')).status, 404)
  const list = await (await call(nb, admin, '/v1/admin/builds')).json()
  assert.ok(list.length >= 3 && list.every((b: { id: string }) => b.id.startsWith('bld-')))
})

test('builds do not survive a restart: a stop fails the running one with the reason, a crash is found at the next start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nestbox-builds-'))
  try {
    let a = await startTestNestbox({ dataDir: dir, set: SET })
    let adm = await adminSession(a)
    const id = (await (await call(a, adm, '/v1/admin/builds', { method: 'POST', json: { name: 'interrupted', recipe: ['RUN sleep 60'] } })).json()).id
    const t0 = Date.now()
    while ((await (await call(a, adm, `/v1/admin/builds/${id}`)).json()).current_step !== 1 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50))
    await a.close()
    a = await startTestNestbox({ dataDir: dir, set: SET })
    adm = await adminSession(a)
    let b = await (await call(a, adm, `/v1/admin/builds/${id}`)).json()
    assert.equal([b.status, b.error], ['failed', 'nestbox stopped during the build'])
    // a crash leaves a row "running": the next start fails it with the reason
    await sql`UPDATE template_builds SET status = 'running', error = NULL WHERE id = ${id}`.execute(a.services.db)
    await a.close()
    a = await startTestNestbox({ dataDir: dir, set: SET })
    adm = await adminSession(a)
    b = await (await call(a, adm, `/v1/admin/builds/${id}`)).json()
    assert.equal([b.status, b.error], ['failed', 'nestbox restarted while the build was running'])
    await a.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
