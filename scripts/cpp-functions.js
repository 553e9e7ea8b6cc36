// The function bodies of a C++ file, with their lines, for check-structure.js: a scan of braces that skips
// comments, strings and preprocessor lines. A brace opens a function when its header (the text since the last
// `;`, `{` or `}`) ends in a parameter list (with qualifiers, a trailing return type or a constructor's
// initialiser list) outside any function; blocks and lambdas inside a function count as the function's lines.
'use strict';
const fs = require('node:fs');

const CONTAINER = /\b(namespace|class|struct|union|enum)\b[^()]*$|extern\s+"C"\s*$/;
const SIGNATURE = /\)\s*(?:const|noexcept|override|final|->\s*[\w:<>*&, ]+|\s)*$/;
const INITIALISERS = /\)\s*:\s*[\w\s(),:{}.]*$/;
const CONTROL = /^(if|for|while|switch|catch|do|else)\b/;
const NAME = /([~\w:]+)\s*\(/;

/** Skips what cannot hold a brace that counts: comments, string and character literals, raw strings, directives. */
function skipped(src, i, atLineStart) {
  const c = src[i];
  if (c === '/' && src[i + 1] === '/') return src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i);
  if (c === '/' && src[i + 1] === '*') return src.indexOf('*/', i + 2) + 2;
  if (c === '#' && atLineStart) {
    let j = i;
    while (j < src.length && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
    return j;
  }
  if (c === 'R' && src[i + 1] === '"') {
    const delim = /^R"([^(]*)\(/.exec(src.slice(i, i + 20))[1];
    return src.indexOf(`)${delim}"`, i) + delim.length + 2;
  }
  if (c === '"' || (c === "'" && !/[0-9a-fA-F]/.test(src[i - 1] ?? ''))) {
    let j = i + 1;
    while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
    return j + 1;
  }
  return i;
}

function cppFunctions(file) {
  const src = fs.readFileSync(file, 'utf8');
  const lineAt = [];
  for (let i = 0, line = 1; i <= src.length; i++) {
    lineAt.push(line);
    if (src[i] === '\n') line++;
  }
  const out = [];
  const stack = [];
  let header = '', headerStart = -1;
  for (let i = 0; i < src.length;) {
    const next = skipped(src, i, header.trim() === '');
    if (next !== i) {
      header += ' ';
      i = next;
      continue;
    }
    const c = src[i];
    if (c === '{') {
      const h = header.trim().replace(/\s+/g, ' ');
      const inFunction = stack.some((s) => s.kind === 'function');
      const kind = inFunction ? 'block' : CONTAINER.test(h) ? 'container'
        : (SIGNATURE.test(h) || INITIALISERS.test(h)) && !CONTROL.test(h) ? 'function' : 'block';
      stack.push({ kind, line: lineAt[headerStart < 0 ? i : headerStart], name: kind === 'function' ? (NAME.exec(h)?.[1] ?? '(anonymous)') : '' });
    } else if (c === '}') {
      const s = stack.pop();
      if (s?.kind === 'function') out.push({ name: s.name, line: s.line, lines: lineAt[i] - s.line + 1 });
    }
    if (c === '{' || c === '}' || c === ';') {
      header = '';
      headerStart = -1;
    } else {
      if (headerStart < 0 && !/\s/.test(c)) headerStart = i;
      header += c;
    }
    i++;
  }
  return out;
}

module.exports = { cppFunctions };
