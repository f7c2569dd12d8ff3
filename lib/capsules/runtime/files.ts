/**
 * File operations on a running capsule, performed *inside* it: a short shell
 * program started through the same entry chain as exec, as the capsule's root,
 * in its mount namespace. Path resolution is therefore the kernel's, against the
 * capsule's root: `..` stops at `/`, absolute symlinks resolve inside, and a
 * capsule process swapping a directory for a link mid-operation can at worst
 * redirect the operation to another place inside the same capsule. Contents
 * stream through pipes with backpressure; nothing is buffered whole.
 *
 * Uploads go to a temporary file next to the target and are renamed over it
 * only when we say so on a side channel after the whole body went through: an
 * aborted upload leaves nothing behind.
 */
import { posix } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { invalid } from '../../core/errors.ts'
import type { ChildProcess } from 'node:child_process'
import { runForeground, signalProgram } from './exec.ts'
import type { FileEntry } from './types.ts'

/** find(1) -printf: type, size, mode, mtime, owner, group, link target, path — NUL separated. */
const FMT = '%y\\0%s\\0%m\\0%T@\\0%u\\0%g\\0%l\\0%p\\0'
const FIELDS = 8

const SCRIPT = `
op=$1; p=$2
case $op in
stat) [ -e "$p" ] || [ -L "$p" ] || exit 44; exec find "$p" -maxdepth 0 -printf '${FMT}' ;;
list) exec find -H "$p" -mindepth 1 -maxdepth "$3" -printf '${FMT}' ;;
mkdir) exec mkdir -p -- "$p" ;;
remove) exec rm -rf -- "$p" ;;
read)
  [ -d "$p" ] && { echo "$p: Is a directory" >&2; exit 1; }
  exec 3<"$p" || exit 1
  echo "SIZE $(stat -L -c %s /dev/fd/3)" >&2
  exec cat <&3 3<&- ;;
write)
  [ -d "$p" ] && { echo "$p: Is a directory" >&2; exit 1; }
  d=$(dirname -- "$p"); mkdir -p -- "$d" || exit 1
  t=$(mktemp "$d/.nestbox-upload.XXXXXX") || exit 1
  # fd 3 says "commit" only once the whole body went through; anything else leaves no trace
  cat > "$t" && read ok <&3 && [ "$ok" = commit ] && chmod "$3" "$t" && mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 1; }
  stat -c %s -- "$p" ;;
esac`

export type FsRunner = (args: string[]) => string[]

const ERRNO: [RegExp, string][] = [
  [/No such file/, 'ENOENT'],
  [/Not a directory/, 'ENOTDIR'],
  [/Is a directory/, 'EISDIR'],
  [/File exists/, 'EEXIST'],
  [/Directory not empty/, 'ENOTEMPTY'],
  [/No space left|Disk quota/, 'ENOSPC'],
  [/Too many levels of symbolic links/, 'ELOOP'],
  // the host system under a capsule is read-only to it: the same answer as a permission error
  [/Permission denied|Operation not permitted|Read-only file system/, 'EACCES'],
]

function fsError(stderr: string, path: string): Error {
  const code = ERRNO.find(([re]) => re.test(stderr))?.[1] ?? 'EIO'
  return Object.assign(new Error(`${path}: ${stderr.trim().split('\n').pop()?.slice(0, 300) || 'file operation failed'}`), { code })
}

/** An absolute, normalised path inside the capsule. */
export function capsulePath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0')) throw invalid('path must be an absolute path inside the capsule', 'invalid_path')
  return posix.resolve('/', path)
}

function parseEntries(out: Buffer): FileEntry[] {
  const f = out.toString('utf8').split('\0')
  const entries: FileEntry[] = []
  for (let i = 0; i + FIELDS <= f.length; i += FIELDS) {
    const [y, size, mode, mtime, owner, group, target, path] = f.slice(i, i + FIELDS)
    entries.push({
      name: posix.basename(path) || '/',
      path,
      type: y === 'd' ? 'dir' : y === 'l' ? 'symlink' : 'file',
      size: Number(size),
      mode: parseInt(mode, 8),
      modifiedAt: Math.round(Number(mtime) * 1000),
      owner,
      group,
      symlinkTarget: y === 'l' ? target : null,
    })
  }
  return entries
}

/** `launch` starts a program in the capsule as root; `launchWithPipe` also gives it fd 3. */
export function createFileOps(l: { launch: (cmd: string, args: string[]) => ChildProcess; launchWithPipe: (cmd: string, args: string[]) => ChildProcess }) {
  const args = (op: string, ...rest: string[]) => ['-c', SCRIPT, 'nestbox-fs', op, ...rest]
  const run = (op: string, path: string, ...rest: string[]) => runForeground(l.launch('/bin/sh', args(op, path, ...rest)), {})

  return {
    async stat(path: string): Promise<FileEntry | null> {
      const p = capsulePath(path)
      const r = await run('stat', p)
      if (r.exitCode === 44) return null
      if (r.exitCode !== 0) {
        const err = fsError(r.stderr.toString(), p)
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null
        throw err
      }
      return parseEntries(r.stdout)[0] ?? null
    },

    async list(path: string, depth: number): Promise<FileEntry[]> {
      const p = capsulePath(path)
      const r = await run('list', p, String(Math.max(1, Math.floor(depth))))
      // unreadable subdirectories make find exit 1 after listing the rest
      if (r.exitCode !== 0 && !r.stdout.length) throw fsError(r.stderr.toString(), p)
      return parseEntries(r.stdout).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    },

    async mkdir(path: string): Promise<void> {
      const p = capsulePath(path)
      const r = await run('mkdir', p)
      if (r.exitCode !== 0) throw fsError(r.stderr.toString(), p)
    },

    async remove(path: string): Promise<void> {
      const p = capsulePath(path)
      if (p === '/') throw invalid('refusing to remove the root directory', 'invalid_path')
      const r = await run('remove', p)
      if (r.exitCode !== 0) throw fsError(r.stderr.toString(), p)
    },

    /** Resolves once the file is open, with its size and a stream of its bytes. */
    readFile(path: string): Promise<{ size: number; stream: Readable }> {
      const p = capsulePath(path)
      const child = l.launch('/bin/sh', args('read', p))
      child.stdin!.end()
      return new Promise((resolve, reject) => {
        let err = ''
        let opened = false
        const onErr = (d: Buffer) => {
          err += d.toString()
          const m = /^SIZE (\d+)\n/m.exec(err)
          if (!m || opened) return
          opened = true
          child.stderr!.off('data', onErr)
          child.stderr!.resume()
          const stream = child.stdout!
          // a reader that stops early must not leave cat running in the capsule
          stream.once('close', () => {
            if (child.exitCode === null) signalProgram(child.pid!, 'SIGKILL')
          })
          resolve({ size: Number(m[1]), stream })
        }
        child.stdout!.pause()
        child.stderr!.on('data', onErr)
        child.on('exit', (code) => {
          if (!opened) reject(code === 0 ? new Error(`${p}: read failed`) : fsError(err, p))
        })
        child.on('error', reject)
      })
    },

    /** Streams `data` into the file; it replaces the target only when `data` ended cleanly. */
    writeFile(path: string, data: Readable, opts?: { mode?: number }): Promise<{ size: number }> {
      const p = capsulePath(path)
      const mode = ((opts?.mode ?? 0o644) & 0o7777).toString(8)
      const child = l.launchWithPipe('/bin/sh', args('write', p, mode))
      const commit = child.stdio[3] as Writable
      return new Promise((resolve, reject) => {
        let out = ''
        let err = ''
        let aborted: Error | null = null
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
        child.stdin!.on('error', () => {})
        commit.on('error', () => {})
        data.on('error', (e) => {
          aborted = e
          commit.destroy()
          child.stdin!.destroy()
        })
        data.on('end', () => commit.end('commit\n'))
        data.pipe(child.stdin!)
        child.on('error', reject)
        child.on('close', (code) => {
          if (aborted) return reject(aborted)
          if (code !== 0) return reject(fsError(err, p))
          resolve({ size: Number(out.trim()) })
        })
      })
    },
  }
}
