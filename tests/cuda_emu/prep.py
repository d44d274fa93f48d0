#!/usr/bin/env python3
"""Rewrites a .cu file into C++ that g++ compiles against the emulator (include/cuda_runtime.h).

usage: prep.py IN.cu OUT.cpp

- `kernel<<<grid, block[, smem[, stream]]>>>(args);` (may span lines; the stream is dropped) becomes
  `::emu::launch("<file>.cu:<line> kernel", ::emu::kernel_id(kernel), dim3(grid), dim3(block),
  smem, [&] { kernel(args); });`. The quoted site names the launch in emulator errors, in grid caps
  (emu::cap_grid) and in emu::site_launches().
- `extern __shared__ [__align__(n)] T name[];` becomes a T* into the launch's dynamic shared memory.
- Line numbers are kept and a #line directive names IN.cu, so compiler errors and debuggers point at
  the .cu source.
Launches inside comments and string literals are left alone.
"""
import os
import re
import sys


def code_mask(s):
    """mask[i] is True where s[i] is code (not a comment, string or character literal)."""
    mask = [True] * len(s)
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if s.startswith('//', i):
            j = s.find('\n', i)
            j = n if j < 0 else j
        elif s.startswith('/*', i):
            j = s.find('*/', i + 2)
            j = n if j < 0 else j + 2
        elif c == '"' or (c == "'" and not (i > 0 and s[i - 1].isalnum())):  # not a digit separator
            j = i + 1
            while j < n and s[j] != c:
                j += 2 if s[j] == '\\' else 1
            j += 1
        else:
            i += 1
            continue
        for k in range(i, min(j, n)):
            mask[k] = False
        i = j
    return mask


OPEN, CLOSE = '(<[{', ')>]}'


def split_top(s):
    """Splits at commas outside (), <>, [] and {}."""
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def fail(src, path, pos, why):
    line = src.count('\n', 0, pos) + 1
    sys.exit(f'prep.py: {path}:{line}: {why}')


def rewrite_launches(src, path):
    name = os.path.basename(path)
    mask = code_mask(src)
    out, last, pos = [], 0, 0
    while True:
        lt = src.find('<<<', pos)
        if lt < 0:
            break
        if not mask[lt]:
            pos = lt + 3
            continue
        gt = src.find('>>>', lt + 3)
        if gt < 0:
            fail(src, path, lt, 'no >>> after <<<')
        cfg = split_top(src[lt + 3:gt])
        if len(cfg) < 2 or len(cfg) > 4:
            fail(src, path, lt, f'launch configuration with {len(cfg)} parts')
        # the argument list: ( ... ) ;
        i = gt + 3
        while src[i].isspace():
            i += 1
        if src[i] != '(':
            fail(src, path, lt, 'no ( after >>>')
        depth, j = 0, i
        while True:
            if mask[j]:
                if src[j] == '(':
                    depth += 1
                elif src[j] == ')':
                    depth -= 1
                    if depth == 0:
                        break
            j += 1
        args = src[i + 1:j]
        k = j + 1
        while src[k].isspace():
            k += 1
        if src[k] != ';':
            fail(src, path, lt, 'the launch is not a statement of its own (no ; after the arguments)')
        # the kernel expression before <<<: name, or name<template args>, possibly qualified
        b = lt
        while src[b - 1].isspace():
            b -= 1
        if src[b - 1] == '>':
            depth = 0
            while True:
                b -= 1
                if src[b] == '>':
                    depth += 1
                elif src[b] == '<':
                    depth -= 1
                    if depth == 0:
                        break
        while b > 0 and (src[b - 1].isalnum() or src[b - 1] in '_:'):
            b -= 1
        kernel = src[b:lt].strip()
        if not kernel:
            fail(src, path, lt, 'no kernel name before <<<')
        line = src.count('\n', 0, lt) + 1
        site = f'{name}:{line} ' + ' '.join(kernel.split())
        smem = cfg[2] if len(cfg) > 2 and cfg[2] else '0'
        new = (f'::emu::launch("{site}", ::emu::kernel_id({kernel}), dim3({cfg[0]}), dim3({cfg[1]}), {smem}, '
               f'[&] {{ {kernel}({args}); }});')
        # keep every line where it was: the newlines of the rewritten span that `new` lacks go after it
        new += '\n' * (src.count('\n', b, k + 1) - new.count('\n'))
        out.append(src[last:b])
        out.append(new)
        last = pos = k + 1
    out.append(src[last:])
    return ''.join(out)


EXTERN_SHARED = re.compile(
    r'^([ \t]*)extern\s+__shared__\s+((?:__align__\s*\(\s*\d+\s*\)\s*)?)([^;\[\]]*?)\s*\b(\w+)\s*\[\s*\]\s*;', re.M)


def rewrite_extern_shared(src):
    def repl(m):
        ind, _, t, n = m.groups()
        t = re.sub(r'__align__\s*\(\s*\d+\s*\)', '', t).strip()
        new = f'{ind}{t}* {n} = reinterpret_cast<{t}*>(::emu::dyn_smem.data());'
        return new + '\n' * m.group(0).count('\n')
    return EXTERN_SHARED.sub(repl, src)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, out = sys.argv[1], sys.argv[2]
    src = open(path).read()
    res = rewrite_launches(rewrite_extern_shared(src), path)
    assert res.count('\n') == src.count('\n'), 'prep.py lost track of the line numbers'
    with open(out, 'w') as f:
        f.write(f'#line 1 "{os.path.abspath(path)}"\n')
        f.write(res)


if __name__ == '__main__':
    main()
