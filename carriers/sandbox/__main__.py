import argparse
import json
import signal
import sys
from datetime import datetime

from .server import Clock, Faults, Sandbox, SandboxCarrier


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m carriers.sandbox", description="Run sandbox carrier APIs.")
    ap.add_argument("--port", type=int, default=8100)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--config", required=True, help="JSON: {\"carriers\": [{code, api_key, dialect, webhook_url, ...}]}")
    ap.add_argument("--sim-start", default=None, help="ISO time the sandbox clock starts at (default: now)")
    ap.add_argument("--speed", type=float, default=1.0, help="Simulated seconds per real second")
    args = ap.parse_args(argv)
    try:
        config = json.load(open(args.config))
        carriers = [SandboxCarrier(**{k: v for k, v in c.items() if k != "faults"}, faults=Faults(**c.get("faults", {})))
                    for c in config["carriers"]]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"Bad sandbox config {args.config}: {exc}", file=sys.stderr)
        return 2
    anchor = config.get("clock", {})
    clock = Clock(datetime.fromisoformat(args.sim_start or anchor["sim_start"]) if (args.sim_start or anchor.get("sim_start")) else None,
                  float(anchor.get("speed", args.speed)), real_start=anchor.get("real_start"))
    server = Sandbox(carriers, clock).serve(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Carrier sandbox on http://{args.host}:{args.port}/ with {', '.join(c.code for c in carriers)}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
