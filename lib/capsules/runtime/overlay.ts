/**
 * Capsules started from a template share its files read-only through overlayfs:
 * the template is the lower layer, the capsule's layer the upper one. Template
 * files are stored with the ids they have inside a capsule (0 = root), so the
 * lower layer is an *idmapped* mount through the capsule's own user namespace
 * (0 → base): each capsule sees the template as its own files, in its own range,
 * without a copy.
 *
 * Both mounts are made by host root inside the boot chain's private mount
 * namespace (never the host's), while the chain waits for its uid maps; they go
 * away with the capsule. Node has no mount syscalls, so the idmapped mount is
 * made by a few lines of Perl (perl-base is part of every Debian system):
 * open_tree(OPEN_TREE_CLONE), mount_setattr(MOUNT_ATTR_IDMAP), move_mount.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where the idmapped template is attached inside the boot chain's mount namespace. */
export const LOWER_MOUNT = '/run/nestbox/capsule-lower'

// x86_64 and aarch64 share these numbers (the new mount API is in the generic table).
const IDMAP_PL = `
my ($src, $dst, $ns) = @ARGV;
open(my $nsfh, '<', $ns) or die "user namespace $ns: $!\\n";
my $empty = '';
my $fd = syscall(428, -100, $src, 1 | 0x80000);
die "open_tree $src: $!\\n" if $fd < 0;
my $attr = pack('QQQQ', 0x00100000, 0, 0, fileno($nsfh));
syscall(442, $fd, $empty, 0x1000, $attr, length($attr)) == 0 or die "mount_setattr: $!\\n";
syscall(429, $fd, $empty, -100, $dst, 4) == 0 or die "move_mount: $!\\n";
`

// $1 template dir, $2 user namespace file, $3 upper, $4 work, $5 lower mount point, $6 root mount point
const MOUNT_SH = `perl -e "$NESTBOX_IDMAP" -- "$1" "$5" "$2" && mount -t overlay overlay -o "lowerdir=$5,upperdir=$3,workdir=$4" "$6"`

/** Overlay options are comma/colon separated: paths holding those cannot be passed. */
export const overlaySafePath = (p: string) => !/[,:\\\s]/.test(p)

/** Mounts the template (idmapped through `pid`'s user namespace) under the layer, inside `pid`'s mount namespace. */
export function mountTemplate(pid: number, o: { template: string; upper: string; work: string; target: string }): Promise<void> {
  mkdirSync(LOWER_MOUNT, { recursive: true, mode: 0o755 })
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/nsenter', ['-t', String(pid), '-m', '--', '/bin/sh', '-c', MOUNT_SH, 'nestbox-overlay', o.template, `/proc/${pid}/ns/user`, o.upper, o.work, LOWER_MOUNT, o.target], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NESTBOX_IDMAP: IDMAP_PL },
    })
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`overlay of the template failed: ${err.trim().slice(0, 300)}`))))
  })
}

let probed: Promise<boolean> | null = null

/**
 * Whether this host can do it (kernel ≥ 5.19 with idmapped ext4/xfs/btrfs lower
 * layers): tried once on a scratch template, in scratch namespaces.
 */
export function overlaySupported(): Promise<boolean> {
  probed ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestbox-overlay-probe-'))
    try {
      for (const d of ['tpl', 'up', 'work', 'root']) mkdirSync(join(dir, d))
      writeFileSync(join(dir, 'tpl', 'f'), 'x')
      // the same shape as a boot chain: a private mount namespace, then a user namespace
      const holder = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '--', '/usr/bin/unshare', '--user', '--', '/bin/sleep', '5'], { stdio: 'ignore' })
      const own = readlinkSync('/proc/self/ns/user')
      for (let i = 0; i < 200; i++) {
        const ns = (() => {
          try {
            return readlinkSync(`/proc/${holder.pid}/ns/user`)
          } catch {
            return own
          }
        })()
        if (ns !== own) break
        await new Promise((r) => setTimeout(r, 5))
      }
      try {
        writeFileSync(`/proc/${holder.pid}/uid_map`, '0 3999900000 1\n')
        writeFileSync(`/proc/${holder.pid}/gid_map`, '0 3999900000 1\n')
      } catch {
        // gone: the mount below tells
      }
      try {
        await mountTemplate(holder.pid!, { template: join(dir, 'tpl'), upper: join(dir, 'up'), work: join(dir, 'work'), target: join(dir, 'root') })
        return true
      } catch {
        return false
      } finally {
        holder.kill('SIGKILL')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })()
  return probed
}
