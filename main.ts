#!/usr/bin/env node
/** nestbox CLI: config → app → listen → signals. */
import { ConfigError, FLAG_NAMES, loadConfig, parseFlags, redactConfig } from './lib/core/config/index.ts'
import { openSqlite } from './lib/core/db.ts'
import { runDoctor } from './lib/core/doctor.ts'
import { MigrationError, migrate } from './lib/core/migrations.ts'
import { VERSION } from './lib/core/version.ts'
import { newAdminPassword } from './lib/identity/bootstrap.ts'
import { networkCheck } from './lib/capsules/doctor.ts'
import { cloudflaredCheck } from './lib/tunnel/doctor.ts'
import { claudeCheck } from './lib/claudebox/doctor.ts'
import { sandboxesCheck } from './lib/sandboxes/doctor.ts'
import { uploadsCheck } from './lib/storage/doctor.ts'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { stringify as toYaml } from 'yaml'

const USAGE = `nestbox ${VERSION}

usage: nestbox <command> [--config file.yaml] [--port N] [--host H] [--data-dir DIR] [--public-url URL] [--log-level L] [--set key=value ...]

commands:
  serve     start the server (default)
  migrate   apply pending database migrations and exit
  config    print the effective configuration (secrets redacted)
  doctor    check this host (runtime, SQLite, pty, bubblewrap, cgroups, data dir, capsule network modes, cloudflared, Claude Code, sandboxes, uploads)
  version   print the version
  agent     run this machine as a local agent of a nestbox server (nestbox agent --help)
`

const COMMANDS = ['serve', 'migrate', 'config', 'doctor', 'version', 'help']

/** A mistyped command line; main prints its one-line message and exits 2. */
class UsageError extends Error {}

/** The command from what parseFlags left over: at most one word, no unknown flags. */
function commandOf(rest: string[]): string {
  if (rest.some((a) => a === '--help' || a === '-h')) return 'help'
  if (rest.includes('--version')) return 'version'
  const flag = rest.find((a) => a.startsWith('-'))
  if (flag) {
    const name = flag.replace(/^-+/, '').split('=')[0]
    const like = name && FLAG_NAMES.find((f) => f.startsWith(name))
    throw new UsageError(`unknown flag ${flag.split('=')[0]}${like ? ` (did you mean --${like}?)` : ''}`)
  }
  const [command = 'serve', extra] = rest
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command "${command}"`)
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" after ${command}`)
  return command
}

async function main(argv: string[]): Promise<number> {
  // The local agent has flags of its own and no server configuration.
  if (argv[0] === 'agent') {
    const { runAgentCli, AGENT_USAGE } = await import('./lib/tunnel/agent-cli.ts')
    if (argv.includes('--help') || argv.includes('-h')) return console.log(AGENT_USAGE), 0
    const onSignal = (fn: () => void) => ['SIGINT', 'SIGTERM'].forEach((s) => process.once(s, fn))
    return runAgentCli(argv.slice(1), { onSignal })
  }
  let command: string
  try {
    command = commandOf(parseFlags(argv).rest)
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof ConfigError)) throw err
    console.error(`nestbox: ${err.message.replace(/^config: /, '')}; see "nestbox help"`)
    return 2
  }
  if (command === 'version') {
    console.log(VERSION)
    return 0
  }
  if (command === 'help') {
    console.log(USAGE)
    return 0
  }
  const config = loadConfig({ argv })
  switch (command) {
    case 'config':
      process.stdout.write(toYaml(redactConfig(config)))
      return 0
    case 'doctor':
      return runDoctor(config, [networkCheck(config.capsules.network.default), cloudflaredCheck(config.tunnel.cloudflared), claudeCheck(config.claudebox), sandboxesCheck(config.sandboxes, config.dataDir), uploadsCheck()])
    case 'migrate': {
      const sqlite = openSqlite(join(resolve(config.dataDir), 'nestbox.db'))
      try {
        const r = migrate(sqlite)
        console.log(r.applied.length ? `applied ${r.applied.join(', ')}` : 'database is up to date')
      } finally {
        sqlite.close()
      }
      return 0
    }
    case 'serve': {
      // On a first start the admin's password hash (scrypt, ~40 ms in the thread pool) runs while the server's modules load.
      const adminPassword = existsSync(join(resolve(config.dataDir), 'nestbox.db')) ? undefined : newAdminPassword()
      const { startNestbox } = await import('./lib/http/server.ts')
      const nb = await startNestbox(config, { adminPassword, onBootstrap: (file) => console.log(`first start: admin credentials written to ${file}`) })
      let signals = 0
      const stop = (sig: string) => {
        if (++signals > 1) process.exit(130) // a second signal forces it
        process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'signal', signal: sig }) + '\n')
        nb.close().then(() => process.exit(0), () => process.exit(1))
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
      return -1 // keep running
    }
    default:
      throw new Error(`unhandled command ${command}`)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof MigrationError) console.error(`nestbox: ${err.message}`)
    else console.error(`nestbox: ${err?.stack ?? err}`)
    process.exit(1)
  },
)
