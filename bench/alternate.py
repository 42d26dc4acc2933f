"""unmask against PyTorch in alternating rounds, in one run, so that whatever else the machine is doing
weighs on both sides alike; prints every round and the medians and ratios.

  python bench/alternate.py sample --rounds 3 --precision int8 fp32 -- --layers 24 --dim 512 --heads 8 --tokens 256 --codebook 1024 --batch 4 --steps 50
  python bench/alternate.py decode --rounds 5 -- --batch 1

Each round runs `npx unmask bench <case> ARGS --json` once per --precision (sample) and then this
Python's bench/pytorch_<case>.py ARGS. Run it with the Python whose PyTorch you compare against
(e.g. a venv with PyTorch 2.x). One JSON line per round and side, then a summary JSON line.
"""
import argparse, json, os, platform, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The figure compared per case: unmask's field, PyTorch's field.
FIELDS = {"sample": [("seconds_per_image", "seconds_per_image"), ("forward_ms", "forward_ms")], "decode": [("ms_per_image", "ms_per_image")]}


def run_json(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(FIELDS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", nargs="+", default=["fp32"], help="unmask precisions to time each round (sample only)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    args = argv[cut + 1:]  # after --: the case's arguments, passed to both sides
    if a.case == "sample":
        sides = [(f"unmask {p}", ["npx", "unmask", "bench", a.case, *args, "--json", "--precision", p]) for p in a.precision]
    else:
        sides = [("unmask", ["npx", "unmask", "bench", a.case, *args, "--json"])]
    sides.append(("pytorch", [sys.executable, os.path.join(HERE, f"pytorch_{a.case}.py"), *args]))
    results = {name: [] for name, _ in sides}
    for r in range(a.rounds):
        for name, cmd in sides:
            t = time.time()
            res = run_json(cmd)
            results[name].append(res)
            load = os.getloadavg()[0]
            print(json.dumps({"round": r + 1, "side": name, "load": round(load, 2), "wall_s": round(time.time() - t, 1), **res}), flush=True)
    summary = {"case": a.case, "args": " ".join(args), "rounds": a.rounds, "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}"}
    for ours, theirs in FIELDS[a.case]:
        ref = [x[theirs] for x in results["pytorch"]]
        summary[f"pytorch_{theirs}"] = {"median": statistics.median(ref), "range": [min(ref), max(ref)]}
        for name, _ in sides[:-1]:
            mine = [x[ours] for x in results[name]]
            ratios = [m / p for m, p in zip(mine, ref)]
            summary[f"{name.replace(' ', '_')}_{ours}"] = {"median": statistics.median(mine), "range": [min(mine), max(mine)], "ratio_median": statistics.median(mine) / statistics.median(ref), "ratio_per_round": [round(x, 3) for x in ratios]}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
