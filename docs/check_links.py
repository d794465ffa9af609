#!/usr/bin/env python3
"""Checks that every relative markdown link resolves: the file exists and, for an
#anchor into a markdown file, a heading with that GitHub slug exists.

    python3 docs/check_links.py            # README.md and docs/*.md
    python3 docs/check_links.py FILE.md …  # the files named
"""
import glob, os, re, sys

def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r'[^\w\- ]', '', s)          # drop punctuation (keeps letters, digits, _, -)
    return s.replace(' ', '-')

def anchors(path):
    out, seen, fence = set(), {}, False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
            continue
        m = None if fence else re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0); seen[base] = n + 1
            out.add(base if n == 0 else f'{base}-{n}')
    return out

def links(path):
    fence = False
    for no, line in enumerate(open(path, encoding='utf-8'), 1):
        if line.startswith('```'):
            fence = not fence
            continue
        if fence:
            continue
        line = re.sub(r'`[^`]*`', lambda m: ' ' * len(m.group(0)) if '](' not in m.group(0) else m.group(0), line)
        for m in re.finditer(r'\]\(([^)\s]+)(?:\s+"[^"]*")?\)', line):
            yield no, m.group(1)

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
files = sys.argv[1:] or [os.path.relpath(p) for p in
                         [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, 'docs', '*.md')))]
bad = 0
for f in files:
    for no, target in links(f):
        if re.match(r'^[a-z]+:', target):
            continue                      # http:, mailto:, …
        file_part, _, frag = target.partition('#')
        dest = os.path.normpath(os.path.join(os.path.dirname(f), file_part)) if file_part else f
        if not os.path.exists(dest):
            print(f'{f}:{no}: {target}: no such file {dest}'); bad += 1; continue
        if frag:
            if not dest.endswith('.md'):
                print(f'{f}:{no}: {target}: anchor into a non-markdown file'); bad += 1
            elif frag not in anchors(dest):
                print(f'{f}:{no}: {target}: no heading #{frag} in {dest}'); bad += 1
print(f'{bad} broken link(s)' if bad else 'all links resolve')
sys.exit(1 if bad else 0)
