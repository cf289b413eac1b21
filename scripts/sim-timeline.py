#!/usr/bin/python3
"""Draws a quilt-sim report's timeline (SPEC §13) as SVG or PNG.

    scripts/sim-timeline.py REPORT.json OUT.svg|OUT.png [--title TEXT]

Three panels over the run's time (t = 0: every node had full routes; earlier
samples are the first convergence): the live nodes whose routes were right,
the messages sent per sample interval, and those the network model lost.
Every event is marked with a vertical line, fault events labelled. Needs
matplotlib (Debian's python3-matplotlib, which scripts/setup.sh installs).
"""
import argparse
import json
import sys

FAULTS = {"kill", "restart", "cut", "heal", "partition", "heal_all",
          "degrade", "stall"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("out")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    if not args.out.endswith((".svg", ".png")):
        print(f"{sys.argv[0]}: OUT must end in .svg or .png", file=sys.stderr)
        return 2
    try:
        with open(args.report) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{sys.argv[0]}: cannot read {args.report}: {e}", file=sys.stderr)
        return 2
    timeline = report.get("timeline") or []
    if not timeline:
        print(f"{sys.argv[0]}: {args.report} has no timeline "
              "(simulation.sample_ms = 0?)", file=sys.stderr)
        return 1
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display: files only
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{sys.argv[0]}: matplotlib not found "
              "(apt-get install python3-matplotlib)", file=sys.stderr)
        return 2

    t = [s["t_ms"] / 1000 for s in timeline]
    step = (timeline[1]["t_ms"] - timeline[0]["t_ms"]) / 1000 \
        if len(timeline) > 1 else 0.1
    fig, (right, sent, lost) = plt.subplots(
        3, 1, sharex=True, figsize=(10, 6.5),
        gridspec_kw={"height_ratios": [2, 1, 1]})
    right.step(t, [s["nodes_converged"] for s in timeline], where="post",
               color="tab:green")
    right.set_ylabel("nodes with\nright routes")
    right.set_ylim(bottom=0)
    right.axhline(len(report.get("topology", {}).get("nodes", [])),
                  color="tab:green", linestyle=":", linewidth=0.8)
    sent.bar(t, [s["messages"] for s in timeline], width=step, align="edge",
             color="tab:blue")
    sent.set_ylabel("messages\nper interval")
    lost.bar(t, [s["lost"] for s in timeline], width=step, align="edge",
             color="tab:red")
    lost.set_ylabel("lost\nper interval")
    lost.set_xlabel("time (s; 0 = full routes)")
    for ev in report.get("events", []):
        x = ev["at_ms"] / 1000
        fault = ev["action"] in FAULTS
        for ax in (right, sent, lost):
            ax.axvline(x, color="black" if fault else "grey",
                       linewidth=0.8 if fault else 0.4,
                       linestyle="-" if fault else ":")
        if fault:
            label = ev["action"]
            if ev.get("reconverged_ms") is not None:
                label += f" ({ev['reconverged_ms']} ms)"
            right.annotate(label, (x, 1), xycoords=("data", "axes fraction"),
                           rotation=90, va="top", ha="right", fontsize=7)
    title = args.title or (
        f"{report.get('scenario', '')}: {report.get('nodes', '?')} nodes, "
        f"{report.get('links', '?')} links, seed {report.get('seed', '?')}")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
