"""Write the proxy's nginx.conf from nginx.conf.template and the environment, with the API's own
settings (MAX_UPLOAD_MB, REQUEST_TIMEOUT_S) turned into nginx's units. Used by the proxy image's
entry point and by the tests and benchmarks that run Debian's nginx on 127.0.0.1.

    python3 render.py OUT [--exec]   # --exec: then run nginx in the foreground with it
"""
from __future__ import annotations

import os
import string
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
DEFAULTS = {"LISTEN": "8000", "UPSTREAM": "api:8000", "MAX_UPLOAD_MB": "10", "REQUEST_TIMEOUT_S": "10",
            "PROXY_HEADER_TIMEOUT_S": "10", "PROXY_BODY_TIMEOUT_S": "10",
            "PROXY_RATE_LIMIT": "100", "PROXY_RATE_BURST": "200", "RESOLVER": ""}
RESOLV_CONF = Path("/etc/resolv.conf")


def nameservers(text: str) -> list[str]:
    """The nameserver addresses of a resolv.conf, as nginx's `resolver` takes them."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            address = parts[1].split("%")[0]  # an IPv6 zone index nginx would not take
            found.append(f"[{address}]" if ":" in address else address)
    return found


def render(env: dict | None = None) -> str:
    """The config text; `env` (default os.environ) overrides DEFAULTS, empty values keep them."""
    env = os.environ if env is None else env
    values = {name: (env.get(name) or "").strip() or default for name, default in DEFAULTS.items()}
    values["MAX_UPLOAD_BYTES"] = str(int(float(values["MAX_UPLOAD_MB"]) * 1024 * 1024))
    # Past the app's own deadline (it answers 503 then), so a 504 means the API hung.
    values["PROXY_READ_TIMEOUT_S"] = str(int(float(values["REQUEST_TIMEOUT_S"])) + 20)
    for name in ("PROXY_HEADER_TIMEOUT_S", "PROXY_BODY_TIMEOUT_S"):
        values[name] = str(max(1, int(float(values[name]))))
    for name in ("PROXY_RATE_LIMIT", "PROXY_RATE_BURST"):
        number = int(values[name])
        if number < (1 if name == "PROXY_RATE_LIMIT" else 0):
            raise SystemExit(f"{name}={values[name]!r} is not valid: a whole number of requests, "
                             f"{'1' if name == 'PROXY_RATE_LIMIT' else '0'} or more")
        values[name] = str(number)
    if not values["RESOLVER"]:
        # The container network's own DNS, the one that knows the compose service names: the first
        # nameserver. Not the others (podman lists the host's after its aardvark-dns): nginx asks its
        # resolvers in turn, and one that does not know `api` would make every other lookup a 502.
        servers = nameservers(RESOLV_CONF.read_text()) if RESOLV_CONF.exists() else []
        values["RESOLVER"] = servers[0] if servers else "127.0.0.11"
    return string.Template(TEMPLATE.read_text()).safe_substitute(values)


def main() -> None:
    out = Path(sys.argv[1])
    out.write_text(render())
    if "--exec" in sys.argv[2:]:
        os.execvp("nginx", ["nginx", "-p", str(out.parent), "-c", str(out), "-g", "daemon off;"])


if __name__ == "__main__":
    main()
