"""order.py EXECUTABLE TRACE... [--and EXECUTABLE TRACE...]: prints a linker symbol-ordering file (lld
--symbol-ordering-file) from page traces (page_trace.c) of runs of EXECUTABLE: every function on a code page some
run touched, the functions touched by the most runs first, then in order of first touch. Linked in that order, the
code a run executes shares pages, and the kernel's 64 KiB fault-around maps far fewer cold neighbours.

A page is 4 KiB, so a touched page also names its untouched neighbours. With --and, the same workloads (traces
matched by file name) traced in other layouts of the same code (all its functions relinked in a random order,
order.py --shuffle) keep only the functions on touched pages in every layout: the cold neighbours differ between
layouts (scripts/symbol-order.sh traces 8).
order.py --shuffle SEED < NAMES: NAMES in a random (seeded) order, for such a layout."""
import bisect, collections, os, random, subprocess, sys

if sys.argv[1:2] == ["--shuffle"]:
    names = sys.stdin.read().split()
    random.Random(int(sys.argv[2])).shuffle(names)
    sys.stdout.write("".join(name + "\n" for name in names))
    sys.exit(0)


def touched_functions(executable, traces):
    """{trace file name: {function: first-touch sequence number}} for the traces of one executable."""
    code_delta = None
    for line in subprocess.run(["readelf", "-lW", executable], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"] and "E" in fields[6:-1]:
            code_delta = int(fields[2], 16) - int(fields[1], 16)
            break
    if code_delta is None:
        sys.exit("order.py: no executable LOAD segment in " + executable)
    functions = []
    for line in subprocess.run(["nm", "-n", "-S", executable], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW":
            functions.append((int(fields[0], 16), int(fields[1], 16), fields[3]))
    starts = [f[0] for f in functions]
    result = {}
    sequence = 0
    for trace in traces:
        code_regions = {}
        seen = {}
        for line in open(trace):
            fields = line.split()
            if fields[0] == "region":
                if "x" in fields[5]:
                    code_regions[fields[1]] = (int(fields[2], 16), int(fields[4], 16))
                continue
            if len(fields) != 2 or fields[0] not in code_regions:
                continue
            start, offset = code_regions[fields[0]]
            page = int(fields[1], 16) - start + offset + code_delta
            i = max(bisect.bisect_right(starts, page) - 1, 0)
            while i < len(functions) and functions[i][0] < page + 4096:
                address, size, name = functions[i]
                if address + size > page and name not in seen:
                    seen[name] = sequence
                    sequence += 1
                i += 1
        result[os.path.basename(trace)] = seen
    return result, {name: size for _, size, name in functions}


groups = [[]]
for argument in sys.argv[1:]:
    if argument == "--and":
        groups.append([])
    else:
        groups[-1].append(argument)
first, sizes = touched_functions(groups[0][0], groups[0][1:])
for group in groups[1:]:
    other, _ = touched_functions(group[0], group[1:])
    for workload, seen in first.items():
        if workload in other:
            first[workload] = {name: n for name, n in seen.items() if name in other[workload]}
runs_touching = collections.Counter()
first_touch = {}
for seen in first.values():
    for name, n in seen.items():
        runs_touching[name] += 1
        first_touch[name] = min(n, first_touch.get(name, n))
order = sorted(runs_touching, key=lambda name: (-runs_touching[name], first_touch[name]))
sys.stdout.write("".join(name + "\n" for name in order))
size = sum(sizes.get(name, 0) for name in order)
print(f"order.py: {len(order)} functions, {size / 1e6:.2f} MB", file=sys.stderr)
