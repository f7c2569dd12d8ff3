/** The baseline: a bare @hono/node-server app answering what /health/liveliness answers. Usage: node hello-hono.ts PORT */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const app = new Hono()
app.get('/health/liveliness', (c) => c.json("I'm alive!"))
const server = serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: '127.0.0.1' })
process.on('SIGTERM', () => server.close(() => process.exit(0)))
