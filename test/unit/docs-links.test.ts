/** Every relative link (and anchor) of README.md and docs/*.md resolves, and the README stays short. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The page's lines outside fenced code blocks. */
const prose = (text: string) => {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
};

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
const anchors = (text: string) => {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(text)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m?.[1]) continue;
    const slug = m[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
};

/** The targets of the page's Markdown links, outside code. */
const links = (text: string) =>
  prose(text).flatMap((line) => [...line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string));

t.test('every relative link and anchor in README.md and docs/*.md resolves', async (t) => {
  t.ok(pages.length > 5, 'the docs pages are found');
  let checked = 0;
  for (const page of pages) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path = '', anchor] = target.split('#');
      const file = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURIComponent(path));
      const where = `${page}: ${target}`;
      checked++;
      if (!existsSync(file)) {
        t.fail(`${where}: ${relative(ROOT, file)} does not exist`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!file.endsWith('.md')) {
        t.fail(`${where}: an anchor into a file that is not Markdown`);
        continue;
      }
      t.ok(anchors(readFileSync(file, 'utf8')).has(anchor), `${where}: the heading exists`);
    }
  }
  t.ok(checked > 30, `links checked: ${checked}`);
});

t.test('the anchors are computed as GitHub computes them', async (t) => {
  t.same(
    [...anchors('# tus 1.0.0 support\n## Resumable Uploads for HTTP (the IETF draft)\n## Hooks\n## Hooks\n```\n# not a heading\n```')],
    ['tus-100-support', 'resumable-uploads-for-http-the-ietf-draft', 'hooks', 'hooks-1'],
  );
});

t.test('README.md has at most 400 lines', async (t) => {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
  t.ok(lines <= 400, `README.md has ${lines} lines`);
});
