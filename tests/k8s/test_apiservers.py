"""The apiservers check against the fake apiserver's identity Leases (one labelled LeaseList):
all renewing, one stale (named), no expected count, none renewing, no Leases at all, 403."""

from __future__ import annotations

from probes.base import Status
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_apiserver import apiserver_identity_lease

CHECK = "prod-a/control-plane/apiservers"
LIST = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


def identities(apiserver, **renewed_ago: float) -> dict[str, str]:
    """Replace the identity Leases (leader Leases stay) with one per hostname; hostname → Lease name."""
    leases = apiserver.state.leases
    for name in [n for n in leases if n.startswith("apiserver-")]:
        del leases[name]
    names = {}
    for hostname, ago in renewed_ago.items():
        lease = apiserver_identity_lease(hostname.replace("_", "-"), renewed_ago=ago)
        leases[lease["metadata"]["name"]] = names[hostname] = lease
    return {h: lease["metadata"]["name"] for h, lease in names.items()}


async def run(h):
    return (await h.run([CHECK]))[CHECK]


async def test_three_of_three_renewing_is_up_with_one_list(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), apiservers=3), discover=False)
    names = identities(apiserver, cp_1=2, cp_2=9, cp_3=40)
    result = await run(h)
    assert result.status == Status.UP, result.reason
    assert result.reason == "3 of 3 apiservers renewing"
    assert h.engine.checks[CHECK].depends_on == ["prod-a/control-plane/apiserver-livez"]
    assert result.details["renewing"] == 3 and result.details["expected"] == 3
    listed = {i["lease"]: i for i in result.details["apiservers"]}
    # only the labelled Leases: the leader Leases in kube-system are filtered out by the selector
    assert set(listed) == set(names.values())
    first = listed[names["cp_1"]]
    assert first["hostname"] == "cp-1" and first["holder"].startswith(names["cp_1"] + "_")
    assert 1 < first["renew_age_seconds"] < 60
    assert apiserver.hits(LIST) == 1


async def test_one_stale_is_degraded_naming_it(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), apiservers=3), discover=False)
    names = identities(apiserver, cp_1=3, cp_2=301, cp_3=5)
    result = await run(h)
    assert result.status == Status.DEGRADED
    assert result.reason == f"2 of 3 apiservers renewing ({names['cp_2']} stale 5m)"
    # the threshold is configurable: with 10 minutes the same Lease counts as renewing
    h2 = await harness_factory(cluster_config(apiserver.write_kubeconfig(), apiservers=3,
                                              apiserver_stale_after="10m"), discover=False)
    assert (await run(h2)).status == Status.UP


async def test_fewer_leases_than_expected_is_degraded(apiserver, harness_factory):
    # a dead apiserver's Lease is garbage-collected after an hour: then it is simply missing
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), apiservers=3), discover=False)
    identities(apiserver, cp_1=3, cp_2=4)
    result = await run(h)
    assert result.status == Status.DEGRADED and result.reason == "2 of 3 apiservers renewing"


async def test_expected_unset_reports_the_count_and_stays_up(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()), discover=False)
    names = identities(apiserver, cp_1=3, cp_2=1800)
    result = await run(h)
    assert result.status == Status.UP
    assert result.reason == f"1 apiserver renewing ({names['cp_2']} stale 30m)"
    assert result.details["renewing"] == 1 and result.details["identities"] == 2
    assert result.details["expected"] is None


async def test_none_renewing_is_down(apiserver, harness_factory):
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()), discover=False)
    names = identities(apiserver, cp_1=120, cp_2=4000)
    result = await run(h)
    assert result.status == Status.DOWN
    stale = sorted([f"{names['cp_1']} stale 2m", f"{names['cp_2']} stale 67m"])  # in Lease name order
    assert result.reason == f"0 apiservers renewing ({', '.join(stale)})"
    expecting = await harness_factory(cluster_config(apiserver.write_kubeconfig(), apiservers=2), discover=False)
    identities(apiserver)
    result = await run(expecting)
    assert result.status == Status.DOWN and result.reason == "0 of 2 apiservers renewing"


async def test_no_identity_leases_without_expected_is_unknown_not_down(apiserver, harness_factory):
    # Kubernetes before 1.26 or the APIServerIdentity gate off: nothing to count, no alarm
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig()), discover=False)
    identities(apiserver)
    result = await run(h)
    assert result.status == Status.UNKNOWN
    assert result.reason.startswith("no apiserver identity Leases in kube-system")


async def test_forbidden_is_misconfigured_and_the_check_can_be_turned_off(apiserver, harness_factory):
    apiserver.state.forbidden = {LIST}
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), apiservers=3), discover=False)
    results = await h.run()
    result = results[CHECK]
    assert result.status == Status.UNKNOWN and result.details["misconfigured"]
    assert result.reason.startswith('misconfigured: forbidden (403): forbidden: User "system:serviceaccount:')
    assert results["prod-a/control-plane/apiserver-readyz"].status == Status.UP  # not "apiserver down"
    off = await harness_factory(cluster_config(apiserver.write_kubeconfig(), probes={"apiservers": False}),
                                discover=False)
    assert CHECK not in off.engine.checks
