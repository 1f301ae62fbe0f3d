#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The daemon's Prometheus textfile passes `promtool check metrics` and
# carries the VM of libvirt's test driver.  Runs the daemon once on a
# fixture root.  usage: test_prom.sh BUILD_DIR
set -uo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v promtool >/dev/null || { echo "not ok - promtool missing (scripts/setup installs prometheus)"; exit 1; }
mkdir -p "$tmp/root/proc"
echo "cpu0 1 0 0 1 0 0 0 0 0 0" >"$tmp/root/proc/stat"
"$build/daemon/virtenergyd" --once --root "$tmp/root" --uri test:///default --state-dir "$tmp/state" \
	--export-dir "" --vmsr-socket "" --prom-file "$tmp/virtenergy.prom" >/dev/null 2>"$tmp/log" ||
	{ echo "not ok - the daemon failed: $(cat "$tmp/log")"; exit 1; }
fail=0
if out=$(promtool check metrics <"$tmp/virtenergy.prom" 2>&1) && [ -z "$out" ]; then
	echo "ok - promtool check metrics is clean"
else
	echo "not ok - promtool check metrics: $out"; fail=1
fi
if grep -Eq '^virtenergy_vm_energy_joules_total\{uuid="6695eb01-f6a4-8304-79aa-97f2502e193f",name="test",component="idle"\} [0-9]+\.[0-9]{6}$' "$tmp/virtenergy.prom" &&
	! grep -q 'component="idle"} 0.000000' "$tmp/virtenergy.prom"; then
	echo "ok - the VM's idle energy is exported"
else
	echo "not ok - the VM's idle energy is exported"; fail=1
fi
grep -q '^virtenergy_estimated 1$' "$tmp/virtenergy.prom" && echo "ok - estimated without RAPL" ||
	{ echo "not ok - estimated without RAPL"; fail=1; }
# the Grafana dashboard in conf/ is valid JSON and asks only for metrics the daemon exports
src=$(cd "$(dirname "$0")/../.." && pwd)
if python3 - "$src/conf/virtenergy-grafana.json" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1], encoding="utf-8"))
exported = {"virtenergy_vm_energy_joules_total", "virtenergy_vm_power_watts", "virtenergy_vm_running",
            "virtenergy_vm_power_limit_watts", "virtenergy_host_energy_joules_total",
            "virtenergy_host_own_energy_joules_total", "virtenergy_host_unattributed_joules_total",
            "virtenergy_host_power_watts", "virtenergy_estimated", "virtenergy_build_info",
            "virtenergy_vm_info", "virtenergy_service_energy_joules_total"}
used = set()
for p in dash["panels"]:
    for t in p["targets"]:
        used |= set(re.findall(r"virtenergy_[a-z_]+", t["expr"]))
for v in dash["templating"]["list"]:
    used |= set(re.findall(r"virtenergy_[a-z_]+", str(v.get("query", ""))))
sys.exit(0 if used and used <= exported else 1)
PY
then
	echo "ok - the Grafana dashboard uses only exported metrics"
else
	echo "not ok - the Grafana dashboard uses only exported metrics"; fail=1
fi
# ... and works on a fleet: a Host variable, every metric of every panel selected by it,
# sums kept apart per host, and __inputs for import
if python3 - "$src/conf/virtenergy-grafana.json" <<'PY'
import json, re, sys
dash = json.load(open(sys.argv[1], encoding="utf-8"))
names = [v["name"] for v in dash["templating"]["list"]]
ok = "host" in names and dash.get("__inputs") and dash["__inputs"][0]["pluginId"] == "prometheus"
for p in dash["panels"]:
    for t in p["targets"]:
        for m in re.finditer(r"virtenergy_[a-z_]+(\{[^}]*\})?", t["expr"]):
            ok = ok and m.group(1) is not None and 'instance=~"$host"' in m.group(1)
        for by in re.findall(r"by \(([^)]*)\)", t["expr"]):
            ok = ok and "instance" in by
sys.exit(0 if ok else 1)
PY
then
	echo "ok - the Grafana dashboard has a Host variable that every panel follows, and __inputs"
else
	echo "not ok - the Grafana dashboard has a Host variable that every panel follows, and __inputs"; fail=1
fi
# the orchestrator's identity: a test-driver domain with Nova's metadata, as Nova writes it
cat >"$tmp/nova.xml" <<'XML'
<node>
  <domain type='test'>
    <name>ve-nova</name>
    <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
    <memory>262144</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
        <nova:name>web "1"</nova:name>
        <nova:flavor name="m1.small"><nova:vcpus>1</nova:vcpus></nova:flavor>
        <nova:owner>
          <nova:user uuid="5a3e">alice</nova:user>
          <nova:project uuid="9f1c">demo</nova:project>
        </nova:owner>
      </nova:instance>
    </metadata>
  </domain>
</node>
XML
"$build/daemon/virtenergyd" --once --root "$tmp/root" --uri "test://$tmp/nova.xml" --state-dir "$tmp/state2" \
	--export-dir "" --vmsr-socket "" --prom-file "$tmp/nova.prom" >/dev/null 2>"$tmp/log2" ||
	{ echo "not ok - the daemon failed on the Nova domain: $(cat "$tmp/log2")"; fail=1; }
want='virtenergy_vm_info{uuid="4dea22b3-1d52-d8f3-2516-782e98ab3fa0",name="ve-nova",orchestrator="nova",instance="web \"1\"",flavor="m1.small",project="demo",project_id="9f1c",user="alice",user_id="5a3e"} 1'
if grep -qxF "$want" "$tmp/nova.prom" && out=$(promtool check metrics <"$tmp/nova.prom" 2>&1) && [ -z "$out" ]; then
	echo "ok - virtenergy_vm_info carries Nova's instance, flavor, project and user, and promtool is clean"
else
	echo "not ok - virtenergy_vm_info from Nova's metadata: $(grep vm_info "$tmp/nova.prom") $out"; fail=1
fi
if grep -qxF 'virtenergy_vm_info{uuid="6695eb01-f6a4-8304-79aa-97f2502e193f",name="test"} 1' "$tmp/virtenergy.prom"; then
	echo "ok - a VM no orchestrator made: virtenergy_vm_info with uuid and name only"
else
	echo "not ok - a VM no orchestrator made: $(grep vm_info "$tmp/virtenergy.prom")"; fail=1
fi
# and every one of them is in the exposition, apart from the limit (no VM is limited here)
for m in virtenergy_vm_energy_joules_total virtenergy_vm_power_watts virtenergy_vm_running \
	virtenergy_host_power_watts virtenergy_host_unattributed_joules_total virtenergy_estimated \
	virtenergy_build_info; do
	grep -q "^$m" "$tmp/virtenergy.prom" || { echo "not ok - $m exported"; fail=1; }
done
# the build's version, the one --version prints
version=$("$build/daemon/virtenergyd" --version | sed -n 's/^virtenergyd //p')
if [ -n "$version" ] && grep -qxF "virtenergy_build_info{version=\"$version\"} 1" "$tmp/virtenergy.prom"; then
	echo "ok - virtenergy_build_info carries version $version"
else
	echo "not ok - virtenergy_build_info carries the version ('$version'): $(grep build_info "$tmp/virtenergy.prom")"; fail=1
fi
exit $fail
