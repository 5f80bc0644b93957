"""libvirt domain names in the service: a 100-character name is shown whole
and apart from a domain whose name is its first 63 characters; a name too
long to keep (300 characters) is refused and said in the log, never cut."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import OUT, Service, check, need_root, wait_for  # noqa: E402

need_root()
os.makedirs(OUT, exist_ok=True)
long_name = "l" * 63 + "-" + "x" * 36
prefix = long_name[:63]
too_long = "t" * 300
node = os.path.join(OUT, "node.xml")
DOM = """<domain type='test'><name>%s</name><memory unit='MiB'>1024</memory>
<currentMemory unit='MiB'>1024</currentMemory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>
"""
with open(node, "w") as f:
    f.write("""<node><cpu><mhz>2000</mhz><model>x86_64</model><active>2</active><nodes>1</nodes>
<sockets>1</sockets><cores>2</cores><threads>1</threads></cpu><memory>8388608</memory>
%s%s%s</node>
""" % (DOM % long_name, DOM % prefix, DOM % too_long))

svc = Service(uri="test://" + node, name="names")
try:
    vms = wait_for(lambda: (lambda v: v if long_name in v and prefix in v else None)(svc.vms()), 20,
                   "both domains in /api/v1/vms")
    check(len(long_name) == 100 and vms[long_name]["name"] == long_name,
          "a 100-character name is shown whole")
    check(vms[long_name]["uuid"] != vms[prefix]["uuid"],
          "a domain named after its first 63 characters is another VM")
    check(not any(n.startswith("ttt") for n in vms), "a 300-character name is not watched, not cut")
    code, _ = svc.get_json("/api/v1/vms/" + long_name)
    check(code == 200, "the API finds the VM by its full name")
    time.sleep(1)
    said = svc.logtext().count("running domain(s) not watched")
    check(said == 1, "the refused name is said once in the log (%d times)" % said)
finally:
    svc.stop()
print("all name checks passed")
