#!/usr/bin/env python3
"""Import cycles between the files of a crate, read from its `crate::`, `super::` and `self::` paths.

    python3 scripts/module-cycles.py extract/src [--max N]

Prints every strongly connected component of the file-level import graph with more than one file
(largest first) and exits 1 when one has more than N files (default: report only). Inline
`#[cfg(test)] mod tests` blocks are left out: tests may import anything. A reading of the source, not
of rustc's resolution: a path written through a `pub use` counts as an edge to the module it names.
"""
import os
import re
import sys


def modules(root):
    """Map module path (tuple) -> file path."""
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            found[tuple(rel)] = path
    # `#[path = "x.rs"] mod y;` in a parent: the file is known under the declared name.
    for mod, path in list(found.items()):
        text = open(path).read()
        for m in re.finditer(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)', text):
            target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
            for k, v in list(found.items()):
                if os.path.normpath(v) == target:
                    del found[k]
                    found[mod + (m.group(2),)] = v
    return found


def strip_tests(text):
    # Comments (doc links included) name items without importing them.
    text = re.sub(r"//[^\n]*", "", text)
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def use_paths(text):
    """Every path written as `crate::..`, `super::..`, `self::..`, with `use` groups expanded."""
    out = []

    def expand(prefix, tree):
        tree = tree.strip()
        if not tree:
            return
        if tree.startswith("{"):
            depth, start, parts = 0, 1, []
            for i, c in enumerate(tree):
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        parts.append(tree[start:i])
                        break
                elif c == "," and depth == 1:
                    parts.append(tree[start:i])
                    start = i + 1
            for p in parts:
                expand(prefix, p)
            return
        m = re.match(r"(\w+)\s*(::\s*(.*))?$", tree, re.S)
        if not m:
            return
        seg = m.group(1)
        if seg == "self" and prefix:
            out.append(prefix)
            return
        if m.group(3) is not None:
            expand(prefix + [seg], m.group(3))
        else:
            out.append(prefix + [seg])

    for m in re.finditer(r"\buse\s+((?:crate|super|self)\s*::[^;]*);", text):
        expand([], m.group(1))
    body = re.sub(r"\buse\s+[^;]*;", "", text)
    for m in re.finditer(r"\b((?:crate|super|self)(?:\s*::\s*\w+)+)", body):
        out.append([s.strip() for s in m.group(1).split("::")])
    return out


def reexports(mods):
    """(module, item) -> module the item is re-exported from, for `pub use` lines of each file."""
    out = {}
    for mod, path in mods.items():
        text = strip_tests(open(path).read())
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]*);", text):
            tree = m.group(1).strip()
            tree = re.sub(r"^(crate|self)\s*::\s*", "", tree)
            src = []
            for item in use_leaves(tree):
                *segs, last = item
                if segs:
                    out[(mod, last.split(" as ")[-1].strip())] = (tuple(segs), segs[0] != "crate")
    return out


def use_leaves(tree, prefix=()):
    tree = tree.strip()
    if tree.startswith("{"):
        depth, start = 0, 1
        for i, c in enumerate(tree):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    yield from use_leaves(tree[start:i], prefix)
                    return
            elif c == "," and depth == 1:
                yield from use_leaves(tree[start:i], prefix)
                start = i + 1
        return
    m = re.match(r"(\w+)\s*::\s*(.*)$", tree, re.S)
    if m:
        yield from use_leaves(m.group(2), prefix + (m.group(1),))
    elif tree:
        yield prefix + (tree,)


def resolve(mods, here, path, reexp=None):
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] in ("super", "self"):
        base = here
        rest = path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    else:
        return None
    best, used = None, 0
    for n in range(len(rest) + 1):
        cand = base + tuple(rest[:n])
        if cand in mods:
            best, used = cand, n
    # An item named through a re-export belongs to the module it comes from.
    seen = set()
    while reexp is not None and best is not None and used < len(rest) and (best, rest[used]) in reexp:
        if (best, rest[used]) in seen:
            break
        seen.add((best, rest[used]))
        segs, relative = reexp[(best, rest[used])]
        origin = best + segs if relative else segs[1:]
        target = None
        for n in range(len(origin) + 1):
            if tuple(origin[:n]) in mods:
                target = tuple(origin[:n])
        if target is None:
            break
        best = target
        used = len(rest) - 1 if False else used
        rest = list(origin[len(target):]) + [rest[used]]
        used = len(rest) - 1
    return best


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    args = sys.argv[1:]
    limit = None
    if "--max" in args:
        i = args.index("--max")
        limit = int(args[i + 1])
        del args[i : i + 2]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    root = args[0]
    mods = modules(root)
    reexp = reexports(mods)
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        text = strip_tests(open(path).read())
        for p in use_paths(text):
            target = resolve(mods, mod, p, reexp)
            # A module reaching its own children (or parent's items through `super`) is a tree edge
            # only when it names a different file.
            if target is not None and target != mod:
                graph[mod].add(target)
    comps = sorted((c for c in sccs(graph) if len(c) > 1), key=len, reverse=True)
    name = lambda m: os.path.relpath(mods[m], root)
    for c in comps:
        print(f"{len(c)} files: " + " ".join(sorted(name(m) for m in c)))
        if verbose:
            for m in sorted(c, key=name):
                print(f"  {name(m)} -> " + " ".join(sorted(name(t) for t in graph[m] if t in c)))
    if not comps:
        print(f"{root}: no import cycle")
    if limit is not None and comps and len(comps[0]) > limit:
        print(f"{root}: a cycle of {len(comps[0])} files, more than {limit}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
