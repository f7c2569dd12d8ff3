/**
 * A stand-in for `opencode` in local-agent tests: `--version`, and `serve
 * --hostname H --port N` answering /global/health as opencode does, behind
 * OPENCODE_SERVER_PASSWORD when set. It refuses any other command line, so the
 * test checks what the agent runs.
 */
import { createServer } from 'node:http'

const args = process.argv.slice(2)
if (args.length === 1 && args[0] === '--version') {
  console.log('0.0.0-fake')
  process.exit(0)
}
if (args.length !== 5 || args[0] !== 'serve' || args[1] !== '--hostname' || args[3] !== '--port' || !/^\d+$/.test(args[4])) {
  console.error(`fake opencode: unexpected arguments ${JSON.stringify(args)}`)
  process.exit(2)
}
// like opencode: with OPENCODE_SERVER_PASSWORD set, every request needs Basic opencode:<password>
const password = process.env.OPENCODE_SERVER_PASSWORD
const server = createServer((req, res) => {
  if (password && req.headers.authorization !== `Basic ${Buffer.from(`opencode:${password}`).toString('base64')}`) return res.writeHead(401, { 'www-authenticate': 'Basic realm="opencode"' }).end()
  if (req.url === '/global/health') return res.end(JSON.stringify({ healthy: true, version: '0.0.0-fake', cwd: process.cwd() }))
  res.writeHead(404).end()
})
server.listen(Number(args[4]), args[2])
process.on('SIGTERM', () => server.close(() => process.exit(0)))
