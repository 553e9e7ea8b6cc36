import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadPtb, tokenize, DataError, PTB_FILES } from '../src';
import { PTB_DIR } from './helpers';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-ptb-'));
}

describe('Penn Treebank', () => {
  it('loads the three splits with the reference ids', async () => {
    const train = await loadPtb('train', { dir: PTB_DIR });
    expect(train.corpus.length).toBe(929589);
    expect(train.idToWord.length).toBe(10000);
    expect(train.wordToId.get('<eos>')).toBe(24);
    expect(new Set(train.corpus.subarray(0, 1000)).size).toBe(418);
    expect(Math.max(...train.corpus.subarray(0, 1000))).toBe(417);
    expect(train.idToWord[train.corpus[0]]).toBe('aer');
    const valid = await loadPtb('valid', { dir: PTB_DIR });
    const test = await loadPtb('test', { dir: PTB_DIR });
    expect(valid.corpus.length).toBe(73760);
    expect(test.corpus.length).toBe(82430);
    expect(valid.idToWord).toEqual(train.idToWord);
  });

  it("tokenizes like the book's ptb.py: a line end is <eos>", () => {
    expect(tokenize(' a b \n c \n')).toEqual(['a', 'b', '<eos>', 'c', '<eos>']);
    expect(tokenize('a\tb')).toEqual(['a', 'b']);
  });

  it('refuses a corrupt file and names it', async () => {
    const dir = tmpDir();
    for (const { file } of Object.values(PTB_FILES)) fs.copyFileSync(path.join(PTB_DIR, file), path.join(dir, file));
    const f = path.join(dir, 'ptb.valid.txt');
    fs.appendFileSync(f, ' extra \n');
    await expect(loadPtb('train', { dir })).resolves.toBeDefined(); // train alone is intact
    await expect(loadPtb('valid', { dir })).rejects.toThrow(new RegExp(`${f} is corrupt: sha256 [0-9a-f]{64}, expected c9fe6985`));
  });

  it('says where it looked and how to supply the files when it cannot download them', async () => {
    const dir = tmpDir();
    const err = await loadPtb('train', { dir, url: 'http://127.0.0.1:9/' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(`ptb.train.txt not found in ${dir} and could not be downloaded from http://127.0.0.1:9/ptb.train.txt`);
    expect((err as Error).message).toMatch(/set PTB_DIR/);
  });

  describe('download from a server (a local one here)', () => {
    let server: http.Server;
    let url: string;
    let corruptValid = false;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        const name = path.basename(req.url ?? '');
        const f = path.join(PTB_DIR, name);
        if (!fs.existsSync(f)) {
          res.writeHead(404).end();
          return;
        }
        let body = fs.readFileSync(f);
        if (corruptValid && name === 'ptb.valid.txt') body = Buffer.concat([body, Buffer.from('x')]);
        res.writeHead(200).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('downloads missing files, verifies them and keeps them in the folder', async () => {
      const dir = path.join(tmpDir(), 'nested');
      const test = await loadPtb('test', { dir, url });
      expect(test.corpus.length).toBe(82430);
      expect(fs.readdirSync(dir).sort()).toEqual(['ptb.test.txt', 'ptb.train.txt']);
    });

    it('refuses a download with the wrong checksum and does not save it', async () => {
      corruptValid = true;
      const dir = tmpDir();
      await expect(loadPtb('valid', { dir, url })).rejects.toThrow(/downloaded ptb.valid.txt from .* has sha256 [0-9a-f]+, expected c9fe6985/);
      expect(fs.existsSync(path.join(dir, 'ptb.valid.txt'))).toBe(false);
      corruptValid = false;
    });
  });
});
