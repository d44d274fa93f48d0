# Rewrites a .cu file into C++ for the emulator: `kernel<<<grid, block[, smem[, stream]]>>>(args);`
# becomes ::emu::launch(dim3(grid), dim3(block), smem, [&] { kernel(args); }); and
# `extern __shared__ [__align__(n)] T name[];` a pointer to the emulator's dynamic shared memory.
import re, sys
src = open(sys.argv[1]).read()

def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '(<{[': depth += 1
        elif ch in ')>}]': depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur); cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]

# join launch statements spread over several lines
out, pending = [], None
for line in src.split('\n'):
    if pending is not None:
        pending += ' ' + line.strip()
        if pending.rstrip().endswith(';'):
            out.append(pending); pending = None
        continue
    if '<<<' in line and not line.rstrip().endswith(';'):
        pending = line.rstrip(); continue
    out.append(line)
lines = []
for line in out:
    if '<<<' in line:
        m = re.match(r'^(\s*)(.*?)(\w+(?:<[^<>]*>)?)<<<(.*?)>>>\((.*)\);\s*$', line)
        assert m, line
        ind, pre, k, cfg, args = m.groups()
        c = split_top(cfg)
        smem = c[2] if len(c) > 2 else '0'
        line = f'{ind}{pre}::emu::launch(dim3({c[0]}), dim3({c[1]}), static_cast<size_t>({smem}), [&] {{ {k}({args}); }});'
    m = re.match(r'^(\s*)extern __shared__ (?:__align__\(\d+\) )?([\w:]+(?:\s+[\w:]+)*?)\s+(\w+)\[\];\s*$', line)
    if m:
        ind, ty, name = m.groups()
        line = f'{ind}{ty}* {name} = reinterpret_cast<{ty}*>(::emu::dyn_smem);'
    lines.append(line)
open(sys.argv[2], 'w').write('\n'.join(lines))
