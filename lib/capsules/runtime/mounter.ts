/**
 * Mounts in a boot chain's private mount namespace, made by one long-lived
 * helper (host root) so a boot spawns no process for them: a few lines of Perl
 * (perl-base is part of every Debian system; Node has no mount syscalls) that
 * read one request a line from nestbox, enter the chain's mount namespace
 * (setns), make the mounts, and go back to their own before answering — so no
 * capsule's mounts are kept alive by the helper.
 *
 * A request is the chain's pid and (op, a, b) triples:
 *   loop IMAGE DST   — the ext4 image on a fresh loop device (auto-cleared with its last mount) at DST
 *   bind SRC DST     — a bind mount
 *   idmap SRC DST    — SRC attached read-only at DST, ids mapped through the chain's user namespace
 *   overlay OPTS DST — an overlayfs with those options at DST
 *   attach SRC DST   — the host's SRC (opened before entering) read-only, nosuid, nodev at DST (made,
 *                      owned by the capsule's root, if missing): a host directory given to a running
 *                      capsule, `pid` being its pid 1
 * The new mount API's numbers are the same on x86_64 and aarch64; mount(2) and
 * setns(2) are not: they come as arguments.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

const MOUNTER_PL = `
use strict;
use Fcntl qw(O_RDONLY O_DIRECTORY O_NOFOLLOW);
my ($sys_mount, $sys_setns, $disk_opts) = @ARGV;
$| = 1;
open(my $home, '<', '/proc/self/ns/mnt') or die "own namespace: $!\\n";
my $empty = '';
sub mnt { my ($src, $dst, $type, $flags, $data) = @_; syscall(0 + $sys_mount, $src, $dst, $type, $flags, $data) == 0 or die "mount $type at $dst: $!\\n"; }
sub loop {
  my ($image, $dst) = @_;
  open(my $ctl, '+<', '/dev/loop-control') or die "loop-control: $!\\n";
  open(my $img, '+<', $image) or die "$image: $!\\n";
  for my $try (1 .. 20) {
    my $n = ioctl($ctl, 0x4C82, 0);
    die "no free loop device: $!\\n" unless defined $n;
    open(my $dev, '+<', "/dev/loop" . (0 + $n)) or next;
    # struct loop_config: fd, block_size, loop_info64 (lo_flags: LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO, so the image's pages are not cached twice), reserved
    my $cfg = pack('LL', fileno($img), 0) . pack('QQQQQLLLL', 0, 0, 0, 0, 0, 0, 0, 0, 4 | 16) . ("\\0" x 176) . ("\\0" x 64);
    next unless ioctl($dev, 0x4C0A, $cfg);
    mnt("/dev/loop" . (0 + $n), $dst, 'ext4', 4, $disk_opts);
    return;
  }
  die "no loop device could be configured\\n";
}
# a copy of SRC's mount tree (SRC seen from the current namespace) with the mount_attr ATTR, moved to DST
# (once BEFORE_MOVE ran, when given); dies with "WHAT SRC at DST: why"
sub place {
  my ($what, $src, $dst, $attr, $before_move) = @_;
  my $fd = syscall(428, -100, $src, 1 | 0x80000);
  die "open_tree $src: $!\\n" if $fd < 0;
  my $ok = eval {
    syscall(442, $fd, $empty, 0x1000, $attr, length($attr)) == 0 or die "$!\\n";
    $before_move->() if $before_move;
    syscall(429, $fd, $empty, -100, $dst, 4) == 0 or die "$!\\n";
    1;
  };
  my $why = $@;
  POSIX::close($fd);
  die "$what $src at $dst: $why" unless $ok;
}
# the host uid (gid) that is root in a process's user namespace
sub capsule_root {
  my ($pid, $what) = @_;
  open(my $map, "<", "/proc/$pid/" . $what . "_map") or die "$what map of $pid: $!\\n";
  while (<$map>) { my ($in, $out) = split; return $out if $in == 0 }
  die "no root in the $what map of $pid\\n";
}
# each missing directory of PATH, made by its root (never following a symlink for the chown)
sub make_dirs {
  my ($path, $uid, $gid) = @_;
  my $at = '';
  for my $part (grep { length } split(m{/}, $path)) {
    $at .= "/$part";
    next if -d $at;
    mkdir($at, 0755) or die "mkdir $at: $!\\n";
    my $dir;
    sysopen($dir, $at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) and chown($uid, $gid, $dir);
  }
}
while (my $line = <STDIN>) {
  chomp $line;
  my ($pid, @ops) = split(/\\0/, $line, -1);
  my $err = '';
  eval {
    open(my $mntns, '<', "/proc/$pid/ns/mnt") or die "chain $pid: $!\\n";
    open(my $userns, '<', "/proc/$pid/ns/user") or die "chain $pid: $!\\n";
    syscall(0 + $sys_setns, fileno($mntns), 0x20000) == 0 or die "setns: $!\\n";
    while (@ops) {
      my ($op, $x, $y) = splice(@ops, 0, 3);
      if ($op eq 'loop') { loop($x, $y) }
      elsif ($op eq 'bind') { mnt($x, $y, $empty, 4096, $empty) }
      elsif ($op eq 'overlay') { mnt('overlay', $y, 'overlay', 0, $x) }
      elsif ($op eq 'idmap') { place('idmap', $x, $y, pack('QQQQ', 0x00100000 | 1, 0, 0, fileno($userns))) }
      elsif ($op eq 'attach') {
        # opened on the host's side, then attached on the capsule's
        syscall(0 + $sys_setns, fileno($home), 0x20000) == 0 or die "setns: $!\\n";
        my ($uid, $gid) = (capsule_root($pid, 'uid'), capsule_root($pid, 'gid'));
        place('attach', $x, $y, pack('QQQQ', 1 | 2 | 4, 0, 0, 0), sub {
          syscall(0 + $sys_setns, fileno($mntns), 0x20000) == 0 or die "setns: $!\\n";
          make_dirs($y, $uid, $gid);
        });
      } else { die "unknown op $op\\n" }
    }
    1;
  } or $err = $@ || 'failed';
  syscall(0 + $sys_setns, fileno($home), 0x20000) == 0 or die "back to own namespace: $!\\n";
  $err =~ s/\\n/ /g;
  print $err ? "err $err\\n" : "ok\\n";
}
`

const SYSCALLS = process.arch === 'arm64' ? { mount: 40, setns: 268 } : { mount: 165, setns: 308 }

export type MountOp = ['loop' | 'bind' | 'idmap' | 'overlay' | 'attach', string, string]

/** Mount options of a capsule's disk (disk.ts): no device nodes; freed blocks go back to the host; no background zeroing of inode tables. */
export const DISK_DATA = 'discard,noinit_itable'

let helper: { child: ChildProcess; answers: ((line: string) => void)[] } | null = null
let queue: Promise<unknown> = Promise.resolve()

function start() {
  const child = spawn('/usr/bin/perl', ['-MPOSIX', '-e', MOUNTER_PL, String(SYSCALLS.mount), String(SYSCALLS.setns), DISK_DATA], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
  const h = { child, answers: [] as ((line: string) => void)[] }
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()).length > 2000 && (stderr = stderr.slice(-1000)))
  createInterface({ input: child.stdout! }).on('line', (line) => h.answers.shift()?.(line))
  const gone = () => {
    if (helper === h) helper = null
    for (const a of h.answers.splice(0)) a(`err the mount helper exited: ${stderr.trim().slice(0, 300)}`)
  }
  child.on('exit', gone)
  child.on('error', gone)
  child.stdin!.on('error', () => {})
  // nestbox may exit while it waits for requests
  child.unref()
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.()
  return h
}

/** Makes the mounts in `pid`'s mount namespace, in order; rejects with the first failure. Requests run one at a time. */
export function mountIn(pid: number, ops: MountOp[]): Promise<void> {
  const run = () =>
    new Promise<void>((resolve, reject) => {
      if (ops.some((op) => op.some((x) => /[\0\n]/.test(x)))) return reject(new Error('a mount path holds a NUL or newline'))
      helper ??= start()
      helper.answers.push((line) => (line === 'ok' ? resolve() : reject(new Error(`mounting in the capsule's namespace: ${line.replace(/^err /, '')}`))))
      helper.child.stdin!.write([String(pid), ...ops.flat()].join('\0') + '\n')
    })
  const p = queue.then(run, run)
  queue = p.catch(() => {})
  return p
}
