"""Helpers for the HTTP endpoint (SPEC section 15): a quiltd with [http]
and the console on free ports, and a plain HTTP/1.1 GET (or any method)
that returns status, Content-Type and body."""

import http.client

from console_harness import ConsoleNode
from quilt_harness import free_port


class HttpNode(ConsoleNode):
    """A ConsoleNode whose config also opens [http] on `http_port`."""

    def __init__(self, workdir, name, http_port=None, **kw):
        self.http_port = http_port or free_port()
        super().__init__(workdir, name, **kw)

    def write_config(self):
        super().write_config()
        with open(self.config_path, "a") as f:
            f.write('\n[http]\nhost = "127.0.0.1"\nport = %d\n'
                    % self.http_port)

    def start(self, pty=False, args=(), wait_ready=True):
        super().start(pty=pty, args=args, wait_ready=wait_ready)
        if wait_ready and not self.wait_log(r"\] HTTP on ", timeout=10):
            raise AssertionError("%s did not open HTTP:\n%s"
                                 % (self.name, self.tail()))
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port


def request(node, path, method="GET", timeout=10):
    """(status, content type, body as text) of one request."""
    c = http.client.HTTPConnection("127.0.0.1", node.http_port,
                                   timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), \
            r.read().decode("utf-8")
    finally:
        c.close()
