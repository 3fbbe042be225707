import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { formatProcessTag, ownerAlive, parseProcessTag, processTag } from '../src/process-tag.js';

describe('process tags: who owns a temporary file', () => {
  it('round-trips through a name, and this process is alive', () => {
    const name = `botbackup-${formatProcessTag()}.Xy12ab`;
    const tag = parseProcessTag(name, 'botbackup-');
    expect(tag).toEqual(processTag());
    expect(ownerAlive(tag!)).toBe(true);
    expect(parseProcessTag('0123456789abcdef.part')).toBeUndefined();
    expect(parseProcessTag('botbackup-Ab12cD', 'botbackup-')).toBeUndefined();
  });

  it('a dead process is dead; a reused pid (another start time) is not taken for the owner; another machine is unknown', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const me = processTag();
    // The child's start time as its own processTag would see it: read the same way.
    const { readFileSync } = await import('node:fs');
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
    const tag = { machine: me.machine, pid: child.pid!, start };
    expect(ownerAlive(tag)).toBe(true);
    expect(ownerAlive({ ...tag, start: String(Number(start) + 1) })).toBe(false);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(ownerAlive(tag)).toBe(false);
    expect(ownerAlive({ ...tag, machine: 'ffffffffff' })).toBeUndefined();
    expect(ownerAlive({ ...me, start: String(Number(me.start) + 1) })).toBe(false);
  });
});
