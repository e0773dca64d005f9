"""Nchan's peer: nginx with the Nchan module (Debian's), one worker, its memory store."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from benchmarks.peers.base import MAX_STREAMS, Peer, publisher_command
from benchmarks.support.machine import NGINX

NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
NGINX_CONF = """\
load_module {module};
worker_processes 1;
worker_rlimit_nofile {nofile};
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/tmp-body;
  proxy_temp_path {prefix}/tmp-proxy;
  fastcgi_temp_path {prefix}/tmp-fastcgi;
  uwsgi_temp_path {prefix}/tmp-uwsgi;
  scgi_temp_path {prefix}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /__bench__/ping {{ return 200 "ok\\n"; }}
    location = /pub {{
      nchan_publisher;
      nchan_channel_id flights;
      nchan_message_buffer_length 10000;
      nchan_message_timeout 1h;
    }}
    location = /events/flights/ {{
      nchan_subscriber eventsource;
      nchan_channel_id flights;
      nchan_subscriber_first_message newest;
      nchan_message_buffer_length 10000;
      nchan_message_timeout 1h;
    }}
  }}
}}
"""


class NchanPeer(Peer):
    name = "nchan"
    system = "Nchan"
    server = "nginx (1 worker)"
    store = "Nchan memory store (10,000-message buffer)"
    publish_path = "HTTP POST to Nchan's publisher location, stamped when sent"
    integer_ids = False

    def unavailable(self) -> str | None:
        if not Path(NGINX).exists() or not NCHAN_MODULE.exists():
            return "no nginx with the Nchan module (apt-get install nginx-light libnginx-mod-nchan)"
        return None

    def command(self, port: int) -> list[str]:
        assert self.work is not None
        prefix = self.work / "nginx"
        prefix.mkdir(exist_ok=True)
        conf = prefix / "nginx.conf"
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        conf.write_text(
            NGINX_CONF.format(
                module=NCHAN_MODULE, prefix=prefix, port=port, nofile=nofile,
                connections=min(MAX_STREAMS, nofile - 100),
            )
        )  # fmt: skip
        return [NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]

    def publisher_command(self) -> tuple[list[str], dict[str, str]]:
        return publisher_command("--nchan", f"{self.servers[0].url}/pub"), dict(os.environ)
