"""PyUNICORE 2.0.2 scenarios against the UNICORE test server.

Run as `python scenarios.py <scenario>` with UC_URL, UC_REGISTRY, UC_WORKFLOWS,
UC_USER, UC_PASSWORD, UC_TOKEN, UC_KEYS, UC_KEY_PASSPHRASE and UC_TMP set. Each scenario asserts what it can
and prints one last line `RESULT <json>` that the Rust test checks again.
"""

import json
import os
import socket
import sys
import threading
import time

import pyunicore.client as uc
import pyunicore.credentials as cr
from pyunicore.forwarder import Forwarder

URL = os.environ["UC_URL"]
TMP = os.environ["UC_TMP"]


def password_cred():
    return cr.UsernamePassword(os.environ["UC_USER"], os.environ["UC_PASSWORD"])


def client():
    return uc.Client(password_cred(), URL)


def result(**values):
    print("RESULT " + json.dumps(values))


def connect_password():
    c = client()
    props = c.properties
    result(
        role=c.access_info()["role"]["selected"],
        uid=c.access_info()["xlogin"]["UID"],
        site=props["server"]["siteName"],
        version=list(c.server_version_info()),
        links=sorted(c.links.keys()),
    )


def connect_token():
    c = uc.Client(cr.OIDCToken(os.environ["UC_TOKEN"]), URL)
    role = c.access_info()["role"]["selected"]
    try:
        uc.Client(cr.UsernamePassword(os.environ["UC_USER"], "wrong-password"), URL)
        refused = None
    except Exception as e:  # httpx.HTTPError with the server's message
        refused = str(e)
    issued = c.issue_auth_token(lifetime=300)
    again = uc.Client(cr.BearerToken(issued), URL).access_info()["xlogin"]["UID"]
    result(role=role, refused=refused, issued_uid=again)


def connect_key():
    """create_credential(user, identity=KEY): a JWT signed with each SSH key."""
    keys = os.environ["UC_KEYS"]
    user = os.environ["UC_USER"]
    logins = {}
    for name in ["id_rsa", "id_ecdsa", "id_ed25519", "id_rsa.pem", "id_ecdsa.pem",
                 "id_ed25519_locked"]:
        passphrase = os.environ["UC_KEY_PASSPHRASE"] if name.endswith("_locked") else None
        cred = cr.create_credential(user, passphrase, identity=os.path.join(keys, name))
        assert isinstance(cred, cr.JWTToken), type(cred)
        info = uc.Client(cred, URL).access_info()
        logins[name] = {
            "algorithm": cred.algorithm,
            "uid": info["xlogin"]["UID"],
            "role": info["role"]["selected"],
            "method": uc.Client(cred, URL).properties["client"]["authenticationMethod"],
        }
    refused = {}
    forged = {
        # A key the server does not know, for the right user.
        "stranger": cr.create_credential(user, identity=os.path.join(keys, "id_stranger")),
        # A registered key, but the token ran out a minute ago.
        "expired": cr.JWTToken(user, user, _private_key(os.path.join(keys, "id_ed25519")),
                               algorithm="EdDSA", lifetime=-60),
        # The issuer is not the subject: not a token the user made for itself.
        "issuer": cr.JWTToken(user, "someone-else",
                              _private_key(os.path.join(keys, "id_ed25519")), algorithm="EdDSA"),
    }
    for what, cred in forged.items():
        try:
            uc.Client(cred, URL)
            refused[what] = None
        except Exception as e:  # httpx.HTTPError with the server's message
            refused[what] = str(e)
    result(logins=logins, refused=refused)


def _private_key(path):
    from cryptography.hazmat.primitives import serialization

    with open(path, "rb") as f:
        return serialization.load_ssh_private_key(f.read(), password=None)


def job_with_input():
    c = client()
    path = os.path.join(TMP, "input.txt")
    with open(path, "w") as f:
        f.write("line from the input file\n")
    job = c.new_job(
        {"Executable": "cat", "Arguments": ["input.txt"], "Tags": ["pyunicore-itest"]},
        inputs=[path],
    )
    job.poll(timeout=120)
    wd = job.working_dir
    stdout = wd.stat("/stdout").read().decode()
    tagged = [j.job_id for j in c.get_jobs(tags=["pyunicore-itest"])]
    failing = c.new_job({"Executable": "sh -c 'echo oops >&2; exit 3'"})
    failing.poll(timeout=120)
    result(
        status=job.status.value,
        exit_code=job.exit_code,
        stdout=stdout,
        files=sorted(wd.listdir().keys()),
        tagged=job.job_id in tagged,
        failed_status=failing.status.value,
        failed_exit=failing.exit_code,
        failed_stderr=failing.working_dir.stat("stderr").read().decode(),
    )


def storage():
    c = client()
    home = [s for s in c.get_storages() if s.resource_url.endswith("/HOME")][0]
    src = os.path.join(TMP, "upload.bin")
    data = bytes(range(256)) * 40
    with open(src, "wb") as f:
        f.write(data)
    home.upload(src, destination="pyitest/dir/upload.bin")
    listing = sorted(home.listdir("pyitest/dir").keys())
    f = home.stat("pyitest/dir/upload.bin")
    size = f.properties["size"]
    whole = f.read()
    ranged = f.read(offset=1000, size=10)
    dst = os.path.join(TMP, "download.bin")
    f.download(dst)
    with open(dst, "rb") as fh:
        downloaded = fh.read()
    home.mkdir("pyitest/made")
    home.rename("pyitest/dir/upload.bin", "pyitest/made/renamed.bin")
    after = sorted(home.listdir("pyitest/made").keys())
    home.rmdir("pyitest")
    try:
        home.stat("pyitest")
        gone = False
    except Exception:
        gone = True
    result(
        listing=listing,
        size=size,
        whole_ok=whole == data,
        ranged=list(ranged),
        expected_ranged=list(data[1000:1010]),
        download_ok=downloaded == data,
        after_rename=after,
        removed=gone,
    )


def transfer():
    c = client()
    home = c.get_storages()[0]
    work = [s for s in c.get_storages() if s.resource_url.endswith("/WORK")][0]
    home.put("server to server\n", "pyxfer/source.txt")
    tr = home.send_file("pyxfer/source.txt", work.resource_url + "/files/pyxfer/target.txt")
    tr.poll(timeout=120)
    copied = work.stat("pyxfer/target.txt").read().decode()
    back = home.receive_file(work.resource_url + "/files/pyxfer/target.txt", "pyxfer/back.txt")
    back.poll(timeout=120)
    result(status=tr.status.value, copied=copied, back=back.status.value,
           back_content=home.stat("pyxfer/back.txt").read().decode())


def registry():
    r = uc.Registry(password_cred(), os.environ["UC_REGISTRY"])
    site = r.site("DEMO-SITE")
    result(sites=r.site_urls, workflows=r.workflow_services_urls, site_url=site.resource_url)


def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        while True:
            conn, _ = srv.accept()
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def forward():
    port = echo_server()
    c = client()
    job = c.new_job({"Executable": "sleep 60"})
    job.poll(uc.JobStatus.RUNNING, timeout=60)
    tr = c.transport._clone()
    tr.use_security_sessions = False
    fwd = Forwarder(tr, job.links["forwarding"], service_port=port)
    t = threading.Thread(target=fwd.run, args=(0,), daemon=True)
    t.start()
    for _ in range(100):
        if fwd.local_port:
            break
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", fwd.local_port)) as s:
        s.sendall(b"hello through UNICORE")
        got = b""
        while len(got) < 21:
            got += s.recv(100)
    job.abort()
    result(echo=got.decode(), local_port=fwd.local_port > 0)


def workflow():
    wfs = uc.WorkflowService(password_cred(), os.environ["UC_WORKFLOWS"])
    wf = wfs.new_workflow({
        "name": "pyunicore-itest",
        "activities": [
            {"id": "first", "type": "JOB", "job": {"Executable": "echo one"}},
            {"id": "hold", "type": "HOLD"},
            {"id": "second", "type": "JOB", "job": {"Executable": "echo two"}},
        ],
        "transitions": [{"from": "first", "to": "hold"}, {"from": "hold", "to": "second"}],
    })
    for _ in range(600):
        if wf.properties["status"] == "HELD":
            break
        time.sleep(0.1)
    held = wf.is_held()
    wf.resume({"COUNT": "2"})
    wf.poll(timeout=120)
    files = wf.get_files()
    second = wf.stat("wf:second/stdout").read().decode()
    try:
        wfs.new_workflow({"activities": []})
        invalid = None
    except Exception as e:
        invalid = str(e)
    result(held=held, status=wf.status.value, jobs=len(wf.get_jobs()), files=sorted(files.keys()),
           second=second, invalid=invalid,
           listed=wf.resource_url in [w.resource_url for w in wfs.get_workflows()])


if __name__ == "__main__":
    globals()[sys.argv[1]]()
