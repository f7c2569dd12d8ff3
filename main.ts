#!/usr/bin/env node
/** nestbox CLI: config → app → listen → signals. */
import { ConfigError, loadConfig, parseFlags, redactConfig } from './lib/core/config/index.ts'
import { openSqlite } from './lib/core/db.ts'
import { runDoctor } from './lib/core/doctor.ts'
import { MigrationError, migrate } from './lib/core/migrations.ts'
import { VERSION } from './lib/core/version.ts'
import { newAdminPassword } from './lib/identity/bootstrap.ts'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { stringify as toYaml } from 'yaml'

const USAGE = `nestbox ${VERSION}

usage: nestbox <command> [--config file.yaml] [--port N] [--host H] [--data-dir DIR] [--set key=value ...]

commands:
  serve     start the server (default)
  migrate   apply pending database migrations and exit
  config    print the effective configuration (secrets redacted)
  doctor    check this host (runtime, SQLite, pty, bubblewrap, cgroups, data dir)
  version   print the version
`

async function main(argv: string[]): Promise<number> {
  const { rest } = parseFlags(argv)
  const command = rest[0] ?? 'serve'
  if (command === 'version' || command === '--version') {
    console.log(VERSION)
    return 0
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE)
    return 0
  }
  const config = loadConfig({ argv })
  switch (command) {
    case 'config':
      process.stdout.write(toYaml(redactConfig(config)))
      return 0
    case 'doctor':
      return runDoctor(config)
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
      console.error(`nestbox: unknown command "${command}"\n\n${USAGE}`)
      return 2
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
