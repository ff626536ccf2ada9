"""Stand-in for the OpenStack network service (Neutron) of the --nova rig.  Stdlib only.

    python3 net_standin.py PORT

Nova asks the network service for ports and security groups even for a server created
with "networks": "none" (the servers view, the config drive, delete), and fails without
an answer.  This answers every GET /v2.0/<collection> it makes with an empty list (so the
server has no addresses and the config drive no network data), GET / with a version
document, and everything else with 404.  It checks no token.  Each request is logged.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

COLLECTIONS = {
    "ports", "security-groups", "security-group-rules", "networks", "subnets",
    "floatingips", "extensions", "trunks", "qos/policies", "segments", "routers",
}
# JSON key of each collection: Neutron uses underscores (security_groups).
KEY = {c: c.replace("-", "_").split("/")[-1] for c in COLLECTIONS}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urlsplit(self.path).path.rstrip("/")
        port = self.server.server_address[1]
        if path == "":
            self._send(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"http://127.0.0.1:{port}/v2.0/"}]}]})
        elif path == "/v2.0":
            self._send(200, {"resources": []})
        elif path.startswith("/v2.0/") and path[len("/v2.0/"):].removesuffix(".json") in COLLECTIONS:
            name = path[len("/v2.0/"):].removesuffix(".json")
            self._send(200, {KEY[name]: []})
        else:
            self._send(404, {"NeutronError": {"type": "HTTPNotFound", "message": "rig stand-in",
                                              "detail": ""}})

    def _other(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(404, {"NeutronError": {"type": "HTTPNotFound", "message": "rig stand-in",
                                          "detail": ""}})

    do_POST = do_PUT = do_DELETE = do_PATCH = _other

    def log_message(self, fmt, *args):
        sys.stderr.write("net_standin: " + (fmt % args) + "\n")
        sys.stderr.flush()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print(f"net_standin: listening on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
