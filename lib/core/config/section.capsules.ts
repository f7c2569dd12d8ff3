import { bool, int, oneOf, str, strList } from './spec.ts'

/** Capsule settings (bounds, defaults, background jobs). Owned by lib/capsules; the runtime drivers add their own keys. */
export const capsules = {
  defaults: {
    vcpus: int(1, 1, 256),
    memoryMb: int(512, 16, 1 << 20),
    diskSizeMb: int(5120, 1, 1 << 24),
  },
  limits: {
    maxVcpus: int(4, 1, 256, 'largest vcpus a capsule may ask for'),
    minMemoryMb: int(64, 16, 1 << 20),
    maxMemoryMb: int(8192, 16, 1 << 20, 'largest memory_mb a capsule may ask for'),
    maxDiskSizeMb: int(51200, 1, 1 << 24),
    /** Positive timeout_sec values below this are raised to it (Wrenn: 60). */
    minTimeoutSec: int(60, 1, 86_400),
    /** Largest body of the non-streaming files/write (the streaming variant has no cap). */
    maxUploadMb: int(100, 1, 1 << 20),
  },
  /** How often the idle reaper looks for capsules past their timeout_sec. */
  reaperIntervalMs: int(5_000, 50, 3_600_000),
  /** Hot-tier sampling period of the metrics sampler (Wrenn: 500 ms, kept 10 min). */
  metricsIntervalMs: int(500, 50, 60_000),
  /** Bytes of recent PTY output kept per session and replayed on reconnect. */
  ptyReplayBytes: int(64 * 1024, 0, 16 * 1024 * 1024),
  /** What capsules reach (lib/capsules/runtime/network.ts); a create request may ask for another mode. */
  network: {
    default: oneOf('nestbox', ['none', 'nestbox', 'internet'] as const, 'none: loopback only; nestbox: plus this nestbox at $NESTBOX_URL; internet: plus outside addresses (never the host)'),
    allowOut: strList([], 'in mode internet, the only outside destinations (IPv4 CIDRs or host names) unless a create request gives its own; empty = any'),
  },
  /** The driver that makes capsules real on this host (lib/capsules/runtime). */
  runtime: oneOf('process', ['process'] as const, 'process: Linux namespaces via bubblewrap'),
  /** The process runtime (lib/capsules/runtime/process.ts). */
  process: {
    uidBase: int(1_000_000, 65_536, 4_000_000_000, 'first host uid/gid given to capsules: capsule slot N owns [uidBase + N*uidRange, +uidRange)'),
    uidRange: int(65_536, 65_536, 16_777_216, 'host uids/gids per capsule (inside ids 0..uidRange-1)'),
    maxCapsules: int(4096, 1, 65_536, 'capsules (uid ranges) this host holds at once, running or kept as files'),
    pidsMax: int(1024, 16, 4_194_304, 'processes and threads a capsule may have at once'),
    cgroupParent: str('nestbox', { pattern: /^[a-zA-Z0-9._-]+(\/[a-zA-Z0-9._-]+)*$/, patternDoc: 'a relative cgroup path', doc: 'cgroup (under each hierarchy root) holding the capsules' }),
    onShutdown: oneOf('stop', ['stop', 'keep'] as const, 'stop: capsules stop with their files kept (resume boots them); keep: they keep running and are re-attached'),
    seccomp: bool(true, 'every capsule process runs under a syscall filter (io_uring, bpf, kexec, modules, keyrings, the mount API, new user namespaces, the 32-bit entry fail with EPERM); false runs them without'),
    diskLimits: bool(true, "each new capsule's files live in a loop-mounted ext4 image of its disk_size_mb, so writes beyond it fail with ENOSPC inside; false keeps them in the data dir, unlimited"),
    writableSystem: bool(true, "/usr, /etc and the package manager's state are copy-on-write inside each capsule (apt, pip, npm -g work as its root; the host's files never change); false binds them read-only"),
  },
}
