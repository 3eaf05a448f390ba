/**
 * A fixed corpus of typical command output, for what compression does to stored output: text
 * shaped like `ps aux`, `dmesg` and `journalctl`, made by a seeded generator (so every run and
 * every machine gets the same bytes) and cut to the size asked for. Shared by the footprint
 * benchmark and the output codec's tests.
 */

/** A small seeded generator (mulberry32): the same sequence for the same seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERS = ['root', 'systemd+', 'www-data', 'postgres', 'ubuntu', 'nvidia-p', 'redis'];
const COMMANDS = [
  '/usr/lib/systemd/systemd --system --deserialize 31',
  '/usr/bin/containerd',
  'nginx: worker process',
  '/usr/bin/python3 /opt/train/run.py --epochs 90 --batch 512',
  'sshd: ubuntu@pts/0',
  '/usr/bin/nvidia-persistenced --user nvidia-persistenced',
  'postgres: checkpointer',
  '[kworker/u64:2-events_unbound]',
  '/usr/sbin/rsyslogd -n -iNONE',
  'redis-server *:6379',
];
const KERNEL = [
  'usb 1-1: new high-speed USB device number 2 using xhci_hcd',
  'nvidia-nvlink: Nvlink Core is being initialized, major device number 511',
  'EXT4-fs (nvme0n1p2): mounted filesystem with ordered data mode. Quota mode: none.',
  'NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15',
  'mlx5_core 0000:41:00.0: Port module event: module 0, Cable plugged',
  'IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready',
  'audit: type=1400 audit(1700000000.123:42): apparmor="STATUS" operation="profile_load"',
];
const UNITS = [
  'systemd',
  'kubelet',
  'containerd',
  'sshd',
  'CRON',
  'dockerd',
  'nvidia-fabricmanager',
];
const MESSAGES = [
  'Started Session 42 of User ubuntu.',
  'I1205 10:15:02.123456    1234 kubelet.go:2419] "SyncLoop (PLEG): event for pod"',
  'time="2026-12-05T10:15:02Z" level=info msg="loading plugin" type=io.containerd.grpc.v1',
  'Accepted publickey for ubuntu from 10.20.30.40 port 51234 ssh2: ED25519 SHA256:abc',
  '(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)',
  'Received signal 15; terminating.',
];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T;
}

function psLine(rand: () => number): string {
  const pid = 1 + Math.floor(rand() * 400_000);
  const cpu = (rand() * 100).toFixed(1);
  const mem = (rand() * 20).toFixed(1);
  const vsz = Math.floor(rand() * 9_000_000);
  const rss = Math.floor(rand() * 900_000);
  const user = pick(rand, USERS).padEnd(9);
  return `${user}${String(pid).padStart(7)} ${cpu.padStart(4)} ${mem.padStart(4)} ${String(vsz).padStart(8)} ${String(rss).padStart(7)} ?        Ssl  Dec05  12:34 ${pick(rand, COMMANDS)}`;
}

function dmesgLine(rand: () => number, i: number): string {
  return `[${(i * 0.731 + rand()).toFixed(6).padStart(12)}] ${pick(rand, KERNEL)}`;
}

function journalLine(rand: () => number, i: number): string {
  const s = String(i % 60).padStart(2, '0');
  const pid = 100 + Math.floor(rand() * 90_000);
  return `Dec 05 10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${s} gpu-node-017 ${pick(rand, UNITS)}[${pid}]: ${pick(rand, MESSAGES)}`;
}

/** `bytes` of the corpus: a third process list, a third kernel log, a third journal. */
export function outputCorpus(bytes: number, seed = 1): Buffer {
  const rand = seeded(seed);
  const third = Math.ceil(bytes / 3);
  const parts: string[] = [];
  for (const line of [psLine, dmesgLine, journalLine]) {
    let text = '';
    for (let i = 0; text.length < third; i++) text += line(rand, i) + '\n';
    parts.push(text.slice(0, third));
  }
  return Buffer.from(parts.join('').slice(0, bytes), 'utf8');
}
