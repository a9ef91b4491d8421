"""How soon `kgrag serve` answers: seconds from starting the process to the port opening, to
``/ready`` (KG and model loaded), to the first ``/ask`` answer, and (when it joins) to the index.

    python benchmarks/serve_startup.py --store kg/store/default --index indexes/default [--build-index]

The server runs as a child process with the settings given; it is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="kg/store/default")
    ap.add_argument("--index", default="indexes/default")
    ap.add_argument("--model", default=None)
    ap.add_argument("--build-index", action="store_true")
    ap.add_argument("--question", default="糖尿病应该挂什么科？")
    ap.add_argument("--wait-index-s", type=float, default=0, help="also wait this long for the index to join")
    args = ap.parse_args()
    port = _free_port()
    cmd = [sys.executable, "-m", "kgrag.cli", "serve", "--port", str(port), "--store", args.store, "--index",
           args.index, *(["--model", args.model] if args.model else [])]
    if args.build_index:
        cmd.append("--build-index")
    url, t0 = f"http://127.0.0.1:{port}", time.monotonic()
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures: dict[str, object] = {"command": " ".join(cmd[2:])}
    try:
        while "ready_s" not in figures:
            if proc.poll() is not None:
                raise SystemExit(f"kgrag serve exited with {proc.returncode}")
            try:
                r = httpx.get(f"{url}/ready", timeout=5)
                figures.setdefault("port_open_s", round(time.monotonic() - t0, 1))
                if r.status_code == 200:
                    figures["ready_s"] = round(time.monotonic() - t0, 1)
                    figures["parts_at_ready"] = r.json()["parts"]
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        answer = httpx.post(f"{url}/ask", json={"question": args.question}, timeout=600).json()
        figures["first_answer_s"] = round(time.monotonic() - t0, 1)
        figures["answer"] = answer["answer"][:160]
        deadline = time.monotonic() + args.wait_index_s
        while time.monotonic() < deadline:
            parts = httpx.get(f"{url}/ready", timeout=5).json()["parts"]
            if parts["index"] == "ready":
                figures["index_joined_s"] = round(time.monotonic() - t0, 1)
                break
            figures["index_last"] = parts["index"]
            time.sleep(5)
    finally:
        proc.terminate()
        proc.wait(30)
    print(json.dumps(figures, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
