"""Who may talk to the HTTP server, as a user sees it: bodies refused from the
headers, Host names checked (DNS rebinding), the loopback range as one client,
a non-loopback listen refused without a token or an explicit opt-in, the bearer
token, TLS with a CA made here, --uri/--data-dir too long refused."""
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import KVMPILOT, OUT, TEST_URI, Service, check, fail, free_port, wait_for  # noqa: E402

QUIET = "[global]\nbpf = false\nprocscan = false\n"


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def raw(port, data, src="127.0.0.1", timeout=5):
    """Send data from src, read until the server closes or stays silent; (answer, seconds)."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    t0 = time.time()
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out, time.time() - t0


def status(out):
    return int(out.split(b" ")[1]) if out.startswith(b"HTTP/1.1 ") else None


def run_fails(args, want, what):
    r = subprocess.run([KVMPILOT, "run"] + args, capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and want in r.stderr, "%s: exit %d, %s" % (what, r.returncode, r.stderr.strip()))


# --- the defaults: loopback, no token ----------------------------------------------------------
svc = Service(name="access", config=write(os.path.join(OUT, "quiet.ini"), QUIET))
try:
    port = svc.port
    host = b"Host: 127.0.0.1:%d\r\n" % port

    # a 100 GB body: the 413 comes at once, from the headers, and the connection closes
    out, took = raw(port, b"GET /api/v1/vms HTTP/1.1\r\n" + host + b"Content-Length: 100000000000\r\n\r\n")
    check(status(out) == 413 and took < 1.5 and b'"error"' in out,
          "100 GB Content-Length: %s in %.2f s, without waiting for the body" % (status(out), took))
    # ... and the server does not take the body: pushing it fails long before 64 MiB
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /api/v1/vms HTTP/1.1\r\n" + host + b"Content-Length: 100000000000\r\n\r\n")
    sent, block, t0 = 0, b"z" * (1 << 20), time.time()
    try:
        while sent < (64 << 20) and time.time() - t0 < 10:
            s.sendall(block)
            sent += len(block)
    except OSError:
        pass
    s.close()
    check(sent < (16 << 20), "the 100 GB upload is cut off after %d MiB (was: 64 MiB in half a second)"
          % (sent >> 20))

    out, took = raw(port, b"POST /api/v1/vms HTTP/1.1\r\n" + host + b"Content-Length: 5\r\n\r\nhello")
    check(status(out) == 405 and took < 1.5, "POST with a body: %s at once" % status(out))
    out, took = raw(port, b"GET /healthz HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\n\r\n")
    check(status(out) == 413 and took < 1.5, "a chunked body: %s at once" % status(out))

    # Host names: a DNS-rebinding page sends its own
    code, body = svc.get_json("/healthz", headers={"Host": "evil.com"})
    check(code == 421 and "evil.com" in body["error"], "Host: evil.com -> %d %s" % (code, body))
    code, body = svc.get_json("/api/v1/vms", headers={"Host": "evil.com:%d" % port})
    check(code == 421, "Host: evil.com:PORT -> %d" % code)
    code, body = svc.get_json("/healthz", headers={"Host": "localhost:%d" % port})
    check(code == 200 and body["status"] in ("ok", "degraded"), "Host: localhost:PORT -> %d" % code)

    # a local user opening connections from 127.0.0.2, .3, ... gets one client's share
    held, refused = [], 0
    for i in range(2, 2 + 64):
        c = socket.socket()
        c.settimeout(0.5)
        c.bind(("127.0.0.%d" % i, 0))
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET /healthz HTTP/1.1\r\n")  # never finished
        try:
            refused += c.recv(1) == b""
        except socket.timeout:
            pass
        except ConnectionResetError:
            refused += 1
        held.append(c)
    check(refused == 64 - 16, "64 stalled clients from 127.0.0.2-65: %d refused at once, 16 held" % refused)
    for i in range(5):
        code, _ = svc.get_json("/healthz")
        check(code == 200, "127.0.0.1 still served while they stall (%d)" % i)
    for c in held:
        c.close()
finally:
    svc.stop()

# --- a non-loopback listen --------------------------------------------------------------------
bare = ["--uri", TEST_URI, "--data-dir", os.path.join(OUT, "bare-data")]
p = free_port()
run_fails(["--listen", "0.0.0.0:%d" % p, "--config", os.path.join(OUT, "quiet.ini")] + bare,
          "refusing to serve '0.0.0.0:%d' (not a loopback address) without 'auth_token_file'" % p,
          "0.0.0.0 without a token or allow_insecure_listen refused")
insecure = write(os.path.join(OUT, "insecure.ini"), QUIET + "allow_insecure_listen = yes\n")
r = subprocess.Popen([KVMPILOT, "run", "--listen", "0.0.0.0:%d" % p, "--config", insecure] + bare,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
try:
    out = wait_for(lambda: (lambda o: o if status(o) == 200 else None)(
        raw(p, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")[0]),
        20, "0.0.0.0 with allow_insecure_listen = yes to answer")
    check(True, "0.0.0.0 served with allow_insecure_listen = yes (the operator said so)")
finally:
    r.terminate()
    r.wait(timeout=15)

# --- allowed_hosts from the file: its names replace the defaults; a bad list is refused -------
run_fails(["--config", write(os.path.join(OUT, "badhosts.ini"), QUIET + "allowed_hosts = evil.com/x\n"),
           "--listen", "127.0.0.1:%d" % free_port()] + bare,
          "badhosts.ini:4: 'allowed_hosts' = 'evil.com/x' is not a list of host names",
          "allowed_hosts with a '/' refused at its line")
hosts_ini = write(os.path.join(OUT, "hosts.ini"), QUIET + "allowed_hosts = 127.0.0.1, kvm1.example.org\n")
svc = Service(name="hosts", config=hosts_ini)
try:
    code, _ = svc.get_json("/healthz", headers={"Host": "kvm1.example.org:9477"})
    check(code == 200, "allowed_hosts: Host: kvm1.example.org:9477 -> %d" % code)
    code, _ = svc.get_json("/healthz", headers={"Host": "localhost"})
    check(code == 421, "allowed_hosts without localhost: Host: localhost -> %d" % code)
    # A reload keeps the running server's names (the server was opened with them) and says so.
    write(hosts_ini, QUIET + "allowed_hosts = 127.0.0.1, localhost\n")
    svc.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: svc.get_json("/healthz", headers={"Host": "kvm1.example.org"})[1]["config"]["reloads"] == 1,
             10, "the reload")
    code, _ = svc.get_json("/healthz", headers={"Host": "localhost"})
    check(code == 421, "after a reload: the running names stay until the next start (%d)" % code)
    check("the HTTP access keys" in svc.logtext() and "take effect at the next start" in svc.logtext(),
          "the reload says the HTTP access keys take effect at the next start")
finally:
    svc.stop()

# --- a token --------------------------------------------------------------------------------
token = "t0k3n-" + os.urandom(16).hex()
tfile = write(os.path.join(OUT, "api.token"), token + "\n")
run_fails(["--config", write(os.path.join(OUT, "badtok.ini"), QUIET + "auth_token_file = %s\n"
                             % write(os.path.join(OUT, "token-644"), token + "\n", 0o644)),
           "--listen", "127.0.0.1:%d" % free_port()] + bare,
          "other users may read or write it", "a token file others may read is refused")
tok_ini = write(os.path.join(OUT, "token.ini"), QUIET + "auth_token_file = %s\n" % tfile)
svc = Service(name="token", config=tok_ini, headers={"Authorization": "Bearer " + token})
try:
    for path in ["/healthz", "/api/v1/vms", "/metrics", "/"]:
        code, h, body = svc.get(path, headers={"Authorization": ""})
        check(code == 401 and h.get("WWW-Authenticate", "").startswith("Bearer"),
              "%s without the token: %d" % (path, code))
        code, h, body = svc.get(path, headers={"Authorization": "Bearer " + token[:-1] + "x"})
        check(code == 401, "%s with a wrong token: %d" % (path, code))
        code, h, body = svc.get(path)
        check(code == 200, "%s with the token: %d" % (path, code))
finally:
    svc.stop()

# --- TLS with a CA made here ------------------------------------------------------------------
tls = os.path.join(OUT, "tls")
os.makedirs(tls, exist_ok=True)
ca_key, ca, key, csr, cert = (os.path.join(tls, n) for n in ("ca.key", "ca.pem", "key.pem", "req.csr", "cert.pem"))
ext = write(os.path.join(tls, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n", 0o644)
for cmd in (["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
             "-days", "2", "-subj", "/CN=kvmpilot test CA"],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=localhost"],
            ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext]):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        fail("%s: %s" % (" ".join(cmd[:2]), r.stderr))
os.chmod(key, 0o600)
run_fails(["--config", write(os.path.join(OUT, "half.ini"), QUIET + "tls_cert_file = %s\n" % cert),
           "--listen", "127.0.0.1:%d" % free_port()] + bare,
          "'tls_cert_file' and 'tls_key_file' go together", "tls_cert_file without tls_key_file refused")
tls_ini = write(os.path.join(OUT, "tls.ini"), QUIET + "auth_token_file = %s\ntls_cert_file = %s\ntls_key_file = %s\n"
                % (tfile, cert, key))
svc = Service(name="https", config=tls_ini, headers={"Authorization": "Bearer " + token},
              ssl_ctx=ssl.create_default_context(cafile=ca))
try:
    code, h = svc.get_json("/healthz")
    check(code == 200 and svc.base.startswith("https://"), "python https with the test CA: %d" % code)
    r = subprocess.run(["curl", "-sS", "--cacert", ca, "-H", "Authorization: Bearer " + token,
                        "-o", "/dev/null", "-w", "%{http_code}", "https://localhost:%d/api/v1/vms" % svc.port],
                       capture_output=True, text=True, timeout=20)
    check(r.stdout == "200", "curl --cacert https://localhost:PORT: %s %s" % (r.stdout, r.stderr.strip()))
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "https://localhost:%d/healthz" % svc.port], capture_output=True, text=True, timeout=20)
    check(r.returncode != 0, "curl without the CA does not trust it (exit %d)" % r.returncode)
    out, took = raw(svc.port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=3)
    check(not out.startswith(b"HTTP/"), "plain HTTP to the TLS port gets no HTTP answer (%r)" % out[:20])
    check("serving on https://" in svc.logtext(), "the log says https")
finally:
    svc.stop()

# --- --uri and --data-dir too long are refused, not cut -------------------------------------
long_uri = "test://" + "/x" * 130
r = subprocess.run([KVMPILOT, "run", "--uri", long_uri, "--data-dir", os.path.join(OUT, "d")],
                   capture_output=True, text=True, timeout=20)
check(r.returncode == 2 and "bad --uri '%s': longer than 255 characters" % long_uri in r.stderr,
      "--uri of %d characters refused: %s" % (len(long_uri), r.stderr.strip()[:80]))
long_dir = "/tmp/" + "d" * 260
r = subprocess.run([KVMPILOT, "run", "--uri", TEST_URI, "--data-dir", long_dir],
                   capture_output=True, text=True, timeout=20)
check(r.returncode == 2 and "bad --data-dir '%s': longer than 255 characters" % long_dir in r.stderr,
      "--data-dir of %d characters refused" % len(long_dir))

# --- a libvirt domain whose name is too long to keep whole shows in /metrics ----------------
from svclib import write_node  # noqa: E402
node = os.path.join(OUT, "long-name-node.xml")
write_node(node, "v" * 300, os.path.join(OUT, "long.agent.sock"))
svc = Service(name="longname", uri="test://" + node, config=os.path.join(OUT, "quiet.ini"))
try:
    def refused():
        code, h, body = svc.get("/metrics")
        return code == 200 and b"\nkvmpilot_libvirt_names_refused 1\n" in body
    wait_for(refused, 15, "kvmpilot_libvirt_names_refused 1")
    check(True, "a 300-character domain name: kvmpilot_libvirt_names_refused 1 in /metrics")
finally:
    svc.stop()
