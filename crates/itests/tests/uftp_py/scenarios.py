"""PyUNICORE 2.0.2's uftp module against hpckit's UFTPD test server.

Usage: scenarios.py NAME; settings from UFTP_* environment variables. Prints
one line `RESULT <json>` for the Rust test to check.
"""
import json
import os
import sys

from pyunicore.credentials import UsernamePassword
from pyunicore.uftp.uftp import UFTP, AuthServer

URL = os.environ["UFTP_AUTH_URL"]
BASE = os.environ["UFTP_BASE"]
TMP = os.environ["UFTP_TMP"]
CRED = UsernamePassword(os.environ["UFTP_USER"], os.environ["UFTP_PASSWORD"])


def session():
    u = UFTP()
    u.connect(CRED, URL, BASE)
    return u


def write(u, path, data, offset=0):
    sock = u.get_write_socket(path, offset)
    sock.sendall(data)
    sock.close()
    u.ftp.voidresp()


def read(u, path, offset=0):
    sock = u.get_read_socket(path, offset)
    chunks = []
    while True:
        c = sock.recv(65536)
        if not c:
            break
        chunks.append(c)
    sock.close()
    u.ftp.voidresp()
    return b"".join(chunks)


def files():
    u = session()
    data = bytes((i * 7) % 251 for i in range(200000))
    write(u, "py.bin", data)
    write(u, "py.bin", b"TAIL", offset=len(data))
    st = u.stat("py.bin")
    back = read(u, "py.bin")
    ranged = read(u, "py.bin", offset=199990)
    u.mkdir("made", 0o755)
    u.rename("py.bin", "made/moved.bin")
    u.chmod("made/moved.bin", 0o600)
    u.set_time("made/moved.bin", 1600000000)
    st2 = u.stat("made/moved.bin")
    listing = sorted(u.listdir("."))
    inner = u.listdir("made")
    u.rm("made/moved.bin")
    u.rmdir("made")
    after = u.listdir(".")
    u.close()
    return {
        "size": st["st_size"],
        "is_file": bool(st["st_mode"] & 0o100000),
        "whole_ok": back == data + b"TAIL",
        "ranged": list(ranged),
        "expected_ranged": list((data + b"TAIL")[199990:]),
        "mode": oct(st2["st_mode"] & 0o7777),
        "mtime": st2["st_mtime"],
        "listing": listing,
        "inner": inner,
        "after": after,
    }


def auth_server():
    a = AuthServer(CRED, URL)
    host, port, secret = a.authenticate(BASE)
    token = a.issue_auth_token(lifetime=300)
    u = UFTP()
    u.open_uftp_session(host, port, secret)
    # A persistent secret opens a second, overlapping session.
    v = UFTP()
    v.open_uftp_session(host, port, secret)
    names = v.listdir(".")
    v.close()
    u.close()
    return {"sharing": a.is_sharing_supported(), "token_parts": len(token.split(".")), "names": names, "server": a.server_name}


if __name__ == "__main__":
    result = globals()[sys.argv[1]]()
    print("RESULT " + json.dumps(result))
