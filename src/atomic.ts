import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A file written in the open and put in place whole: bytes go to a temporary file beside the target; `commit`
 * fsyncs it, renames it over the target and fsyncs the folder, `abort` removes it. Readers see the old file or the
 * complete new one, never a part.
 */
export class AtomicFile {
  readonly fd: number;
  private readonly tmp: string;
  private open = true;
  private committed = false;

  constructor(readonly file: string) {
    const dir = path.dirname(path.resolve(file));
    removeStaleTemporaries(dir, path.basename(file));
    this.tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
    this.fd = fs.openSync(this.tmp, 'wx+', 0o644);
  }

  /** Writes every byte of `bytes` at `position` (default: where the last write ended). */
  write(bytes: Uint8Array, position: number | null = null): void {
    // writeSync may write less than asked: loop until every byte is down.
    for (let off = 0; off < bytes.length;) {
      const n = fs.writeSync(this.fd, bytes, off, bytes.length - off, position === null ? null : position + off);
      if (n <= 0) throw new Error(`write to ${this.tmp} made no progress at byte ${off} of ${bytes.length}`);
      off += n;
    }
  }

  /** Writes every byte of `bytes` at `position`, on libuv's thread pool. */
  async writeAsync(bytes: Uint8Array, position: number): Promise<void> {
    for (let off = 0; off < bytes.length;) {
      const { bytesWritten } = await new Promise<{ bytesWritten: number }>((resolve, reject) =>
        fs.write(this.fd, bytes, off, bytes.length - off, position + off, (e, n) => (e ? reject(e) : resolve({ bytesWritten: n }))));
      if (bytesWritten <= 0) throw new Error(`write to ${this.tmp} made no progress at byte ${off} of ${bytes.length}`);
      off += bytesWritten;
    }
  }

  commit(): void {
    fs.fsyncSync(this.fd);
    this.close();
    fs.renameSync(this.tmp, this.file);
    this.committed = true;
    syncFolder(path.dirname(path.resolve(this.file)));
  }

  /** Removes the temporary file (nothing when already committed). */
  abort(): void {
    if (this.open) this.close();
    if (!this.committed) fs.rmSync(this.tmp, { force: true });
  }

  private close(): void {
    this.open = false;
    fs.closeSync(this.fd);
  }
}

/**
 * Writes `data` to `file` so that readers see either the old file or the complete new one (AtomicFile). On any
 * error the temporary file is removed and the old file is untouched.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const out = new AtomicFile(file);
  try {
    out.write(typeof data === 'string' ? Buffer.from(data) : data);
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
}

function syncFolder(dir: string): void {
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
