/**
 * The contract between CapsuleService and a runtime driver (process = bubblewrap
 * namespaces, cloud-hypervisor = microVMs). The service owns state, persistence,
 * team scoping and events; a driver only makes capsules real on this host.
 * Changes to this file must stay additive: the service and the drivers are
 * written against it independently.
 *
 * Additive extensions (process runtime): ExecRequest.user and PtyRequest.user
 * ('root' | 'user' | a numeric uid inside the capsule); FileEntry.owner, .group
 * and .symlinkTarget; Runtime.killProcess (signal any process from
 * listProcesses, not only spawned ones) and Runtime.status (is the capsule
 * still alive, e.g. after its init was killed from inside); ProcessHandle.pause/
 * resume and PtyHandle.pause/resume (flow control for slow readers);
 * CapsuleSpec.binds (host directories bound read-only inside) and Runtime.attach
 * (one more, into a running capsule).
 */
import type { Readable } from 'node:stream'
import type { Socket } from 'node:net'
import type { NetworkSpec } from './network.ts'

export type CapsuleSpec = {
  id: string
  /** Template name and the host directory of its root filesystem ('' for the built-in host-system template). */
  template: { name: string; rootDir: string | null }
  vcpus: number
  memoryMb: number
  envs?: Record<string, string>
  /** What the capsule reaches (network.ts); absent: none. */
  network?: NetworkSpec
  /** Its disk's size: writes beyond fail with ENOSPC inside (the process runtime's disk.ts); absent: unlimited. */
  diskMb?: number
  /** Host directories the capsule sees read-only at `path` (e.g. a program nestbox ships); at most 8. */
  binds?: Array<{ source: string; path: string }>
  /** How many execs follow the create's boot back to back (a repo run's clone, commands, diff): their entries start ahead, together (launch.ts). */
  firstExecs?: number
}

export type ExecRequest = {
  cmd: string
  args?: string[]
  envs?: Record<string, string>
  cwd?: string
  /** Kill the process (SIGKILL) after this long; 0 = never. */
  timeoutMs?: number
  stdin?: Uint8Array
  /** Who runs it inside the capsule: 'root' (default), 'user' (uid 1000, home /home/user) or a numeric uid. */
  user?: string
}

export type ExecResult = { exitCode: number; stdout: Buffer; stderr: Buffer; durationMs: number; timedOut: boolean }

export type ProcessInfo = { pid: number; tag: string | null; cmd: string; args: string[]; startedAt: number }

/** A background process started with spawn(); output can be followed by several readers. */
export interface ProcessHandle {
  readonly pid: number
  readonly tag: string | null
  onStdout(fn: (chunk: Buffer) => void): () => void
  onStderr(fn: (chunk: Buffer) => void): () => void
  /** Resolves with the exit code (128+signal when killed by a signal). */
  readonly exited: Promise<number>
  kill(signal?: 'SIGTERM' | 'SIGKILL'): void
  writeStdin(data: Uint8Array): void
  /** Stops reading the program's output (it blocks once its pipes are full) until resume(). */
  pause?(): void
  resume?(): void
}

export type PtyRequest = { cmd: string; args?: string[]; cols: number; rows: number; envs?: Record<string, string>; cwd?: string; user?: string }

export interface PtyHandle {
  readonly pid: number
  onData(fn: (data: Buffer) => void): () => void
  readonly exited: Promise<number>
  write(data: Uint8Array | string): void
  resize(cols: number, rows: number): void
  kill(signal?: 'SIGTERM' | 'SIGKILL' | 'SIGHUP'): void
  /** Stops reading the terminal's output (the program blocks once the pty is full) until resume(). */
  pause?(): void
  resume?(): void
}

export type FileEntry = {
  name: string
  path: string
  type: 'file' | 'dir' | 'symlink'
  size: number
  mode: number
  modifiedAt: number
  owner?: string
  group?: string
  symlinkTarget?: string | null
}

export type Metrics = {
  /** Cumulative CPU time of every process in the capsule, microseconds. */
  cpuUsec: number
  memBytes: number
  diskBytes: number
}

export interface Runtime {
  readonly name: 'process' | 'cloud-hypervisor'
  /** Creates and boots the capsule; resolves once it can exec. */
  create(spec: CapsuleSpec): Promise<void>
  /** Binds a host directory read-only into a running capsule (as CapsuleSpec.binds does at its boot, and again at each boot after). */
  attach?(id: string, bind: { source: string; path: string }): Promise<void>
  /** Stops every process and removes everything the capsule had on the host. Idempotent. */
  destroy(id: string): Promise<void>
  /** Freezes every process (cgroup freezer, or SIGSTOP of the tree). */
  pause(id: string): Promise<void>
  resume(id: string): Promise<void>
  /** Copies the capsule's filesystem into `destRootDir` as a template root. Files only for the process runtime. */
  snapshot(id: string, destRootDir: string): Promise<void>

  exec(id: string, req: ExecRequest): Promise<ExecResult>
  spawn(id: string, req: ExecRequest & { tag?: string }): Promise<ProcessHandle>
  listProcesses(id: string): Promise<ProcessInfo[]>
  /** A process started by spawn() and still running (or recently exited), by pid or tag. */
  getProcess(id: string, selector: { pid?: number; tag?: string }): ProcessHandle | null
  /** Signals any process of the capsule by its pid inside; false when there is no such process. */
  killProcess?(id: string, pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean>
  pty(id: string, req: PtyRequest): Promise<PtyHandle>

  /** Paths are absolute inside the capsule; `..` and symlinks never escape its root. */
  /** A connection to a TCP port on the capsule's loopback (rejects with code ECONNREFUSED when nothing listens). */
  connectPort?(id: string, port: number): Promise<Socket>
  /** The same without waiting for the relay: a stream that ends with "ERR <reason>\n" when nothing listens (network.ts openPort). */
  openPort?(id: string, port: number): Socket
  /**
   * Once `port` answers, a function that hands a client connection to it for good,
   * `prefix` going to the app first (a host-routed connection, port-splice.ts).
   * Rejects as connectPort does.
   */
  splicePort?(id: string, port: number): Promise<(client: Socket, prefix: Buffer) => void>
  readFile(id: string, path: string): Promise<{ size: number; stream: Readable }>
  writeFile(id: string, path: string, data: Readable, opts?: { mode?: number }): Promise<{ size: number }>
  list(id: string, path: string, depth: number): Promise<FileEntry[]>
  stat(id: string, path: string): Promise<FileEntry | null>
  mkdir(id: string, path: string): Promise<void>
  remove(id: string, path: string): Promise<void>

  metrics(id: string): Promise<Metrics>
  /** After a nestbox restart: which of these capsules still run (re-attached), which kept only their files. */
  recover(ids: string[]): Promise<Record<string, 'running' | 'paused' | 'files-only' | 'gone'>>
  /** What the driver knows about one capsule now (e.g. 'files-only' once its init died). */
  status?(id: string): 'running' | 'paused' | 'files-only' | 'gone'
  /** Called on nestbox shutdown. Capsules may keep running and be re-attached later, or be stopped with files kept. */
  shutdown(): Promise<void>
}
