import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

/**
 * Who owns a temporary file or folder, written into its name so that a later run can tell a
 * leftover of a dead process from the work of a live one:
 *
 * - `machine`: 10 hex of sha256(host name, boot id, pid namespace). Equal only for processes
 *   that see the same process table: then `pid` and `start` say exactly whether the owner
 *   lives. A process on another host, in another container or before a reboot has another one.
 * - `pid` and `start` (the process's start time in clock ticks since boot, /proc/<pid>/stat
 *   field 22): a reused pid has another start time, so it is never taken for the owner.
 */
export interface ProcessTag {
  machine: string;
  pid: number;
  start: string;
}

let own: ProcessTag | undefined;

/** This process's tag. */
export function processTag(): ProcessTag {
  own ??= { machine: machineId(), pid: process.pid, start: startTime(process.pid) ?? '0' };
  return own;
}

/** `<machine>.<pid>.<start>`: the tag as it appears in names (only [0-9a-f.]). */
export function formatProcessTag(tag: ProcessTag = processTag()): string {
  return `${tag.machine}.${tag.pid}.${tag.start}`;
}

/** Finds a tag at the start of `name` (after `prefix`), or undefined (another naming: unknown owner). */
export function parseProcessTag(name: string, prefix = ''): ProcessTag | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const match = /^([0-9a-f]{10})\.(\d+)\.(\d+)(?:[.-]|$)/.exec(name.slice(prefix.length));
  return match ? { machine: match[1]!, pid: Number(match[2]), start: match[3]! } : undefined;
}

/**
 * Whether the owner of `tag` is alive: true or false when it ran where this process runs (same
 * host, boot and pid namespace), undefined when that cannot be known (another host, container or
 * boot): the caller then falls back on a grace period.
 */
export function ownerAlive(tag: ProcessTag): boolean | undefined {
  const me = processTag();
  if (tag.machine !== me.machine) return undefined;
  if (tag.pid === me.pid) return tag.start === me.start;
  const start = startTime(tag.pid);
  if (start !== undefined) return tag.start === '0' || start === tag.start;
  // No /proc (not Linux): signal 0 tells whether the pid exists, not whether it is the owner.
  try {
    process.kill(tag.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in ticks since boot), or undefined (no such process, or no /proc). */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19];
    return start !== undefined && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

function machineId(): string {
  const read = (f: () => string) => {
    try {
      return f().trim();
    } catch {
      return '';
    }
  };
  const boot = read(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'));
  const pidNs = read(() => readlinkSync('/proc/self/ns/pid'));
  return createHash('sha256').update(`${os.hostname()}\0${boot}\0${pidNs}`).digest('hex').slice(0, 10);
}
