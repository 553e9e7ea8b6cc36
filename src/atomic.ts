import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes `data` to `file` so that readers see either the old file or the complete new one: a temporary file
 * beside it is written and fsynced, then renamed over the target, and the folder is fsynced. On any error the
 * temporary file is removed and the old file is untouched.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  removeStaleTemporaries(dir, path.basename(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    // writeSync may write less than asked: loop until every byte is down.
    for (let off = 0; off < bytes.length;) {
      const n = fs.writeSync(fd, bytes, off, bytes.length - off);
      if (n <= 0) throw new Error(`write to ${tmp} made no progress at byte ${off} of ${bytes.length}`);
      off += n;
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // Some file systems do not allow fsync on a folder; the rename itself is already atomic.
  }
}

/**
 * Removes the temporary files that writes to `base` left behind when their process was killed (SIGKILL, power
 * loss): `.{base}.{pid}.{ms}.tmp` whose process no longer runs. A live process's temporary file is left alone.
 */
function removeStaleTemporaries(dir: string, base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.\d+\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isRunning(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
