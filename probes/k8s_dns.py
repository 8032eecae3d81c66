"""A real query for `kubernetes.default.svc.<cluster domain>` against the cluster DNS service (the
kube-dns Service's ClusterIP unless a server is given): up when it answers with an address."""

from __future__ import annotations

import time
from typing import Literal

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from probes.base import CheckBase, ProbeContext, Result, os_error_reason
from probes.kube import ApiError, KubeTarget, client_for, list_ttl

API_REQUESTS = [("get", "/api/v1/namespaces/kube-system/services/*")]
DNS_PORT = 53
QUERY_SHARE = 0.8  # of the time left after the Service lookup, for the DNS query


class Check(CheckBase):
    kind: Literal["k8s_dns"] = "k8s_dns"
    cluster: KubeTarget
    cluster_domain: str = "cluster.local"
    server: str | None = None
    """`ip` or `ip:port`; default the ClusterIP of Service kube-system/`service`."""
    service: str = "kube-dns"


def _split(server: str) -> tuple[str, int]:
    host, sep, port = server.rpartition(":")
    if sep and port.isdigit() and (host.count(":") == 0 or host.startswith("[")):
        return host.strip("[]"), int(port)
    return server.strip("[]"), DNS_PORT


async def _service_ip(cfg: Check, ctx: ProbeContext) -> str:
    client = client_for(ctx, cfg.cluster)
    if (gone := client.unreachable(cfg.interval)) is not None:
        raise gone

    async def fetch() -> str:
        path = f"/api/v1/namespaces/kube-system/services/{cfg.service}"
        body = await client.get_json(path, request_timeout=cfg.timeout)
        return str((body.get("spec") or {}).get("clusterIP") or "")

    return await client.cached(f"service-ip:{cfg.service}", list_ttl(cfg.interval) * 20, fetch)


async def probe(cfg: Check, ctx: ProbeContext) -> Result:
    started = time.monotonic()
    if cfg.server:
        host, port = _split(cfg.server)
    else:
        try:
            host, port = await _service_ip(cfg, ctx), DNS_PORT
        except ApiError as exc:
            return exc.dependent_result()
        if not host or host == "None":
            return Result.down(f"Service kube-system/{cfg.service} has no ClusterIP")
    name = f"kubernetes.default.svc.{cfg.cluster_domain}."
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        # below the run's timeout, so a silent server is reported as such rather than as a bare timeout
        remaining = cfg.timeout - (time.monotonic() - started)
        answer = await dns.asyncquery.udp_with_fallback(query, host, timeout=remaining * QUERY_SHARE, port=port)
    except dns.exception.Timeout:
        return Result.down(f"no answer from {host}:{port} for {name}")
    except (OSError, dns.exception.DNSException) as exc:
        return Result.down(f"query to {host}:{port} failed: {os_error_reason(exc) or exc}")
    response = answer[0] if isinstance(answer, tuple) else answer
    rcode = dns.rcode.to_text(response.rcode())
    addresses = [r.address for rrset in response.answer for r in rrset if rrset.rdtype == dns.rdatatype.A]
    details = {"server": f"{host}:{port}", "name": name, "rcode": rcode, "answers": addresses}
    if rcode != "NOERROR":
        return Result.down(f"{name}: {rcode} from {host}:{port}", **details)
    if not addresses:
        return Result.down(f"{name}: no A record from {host}:{port}", **details)
    return Result.up(f"{name} → {', '.join(addresses)}", **details)
